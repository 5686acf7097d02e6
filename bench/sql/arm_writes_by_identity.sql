-- Hand-written DuckDB SQL equivalent of queries/arm_writes_by_identity.kql over the kit's typed views.
WITH
-- include: _operations.sql
SELECT
    Identity, AppId, Kind, TokenHasMfa,
    count(*) AS Operations,
    count(*) FILTER (WHERE DeploymentEvents > 0) AS Deployments,
    min(Started) AS FirstSeen,
    max(Started) AS LastSeen,
    max(ObjectId) AS ObjectId,
    list(DISTINCT AmrWithoutMfa) FILTER (WHERE AmrWithoutMfa IS NOT NULL) AS AmrValues,
    list(DISTINCT OperationName) FILTER (WHERE OperationName IS NOT NULL) AS OperationNames,
    list(DISTINCT CallerIp) FILTER (WHERE CallerIp IS NOT NULL) AS CallerIps
FROM operations
WHERE Principal = 'user' AND Outcome <> 'refused_rbac'
GROUP BY Identity, AppId, Kind, TokenHasMfa
ORDER BY Identity, AppId, Kind, TokenHasMfa
