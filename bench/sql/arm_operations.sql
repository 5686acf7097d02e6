-- Hand-written DuckDB SQL equivalent of queries/arm_operations.kql over the kit's typed views.
WITH
-- include: _operations.sql
, facet_operations AS (
    SELECT
        'operations' AS Facet, Identity, Principal, AppId, Kind, TokenHasMfa, Outcome,
        count(*) AS Operations,
        count(*) FILTER (WHERE DeploymentEvents > 0) AS Deployments,
        min(Started) AS FirstSeen,
        max(Started) AS LastSeen,
        count(DISTINCT date_trunc('day', Started)) AS ActiveDays,
        max(ObjectId) AS ObjectId,
        list(DISTINCT AmrWithoutMfa) FILTER (WHERE AmrWithoutMfa IS NOT NULL) AS AmrValues,
        list(DISTINCT OperationName) FILTER (WHERE OperationName IS NOT NULL) AS OperationNames,
        list(DISTINCT CallerIp) FILTER (WHERE CallerIp IS NOT NULL) AS CallerIps
    FROM operations
    GROUP BY Identity, Principal, AppId, Kind, TokenHasMfa, Outcome
), user_writes AS (
    SELECT * FROM operations WHERE Principal = 'user' AND Kind <> 'action'
), minute_counts AS (
    SELECT Identity, date_trunc('minute', Started) AS Minute, count(*) AS Ops,
           count(*) FILTER (WHERE DeploymentEvents > 0) AS Deploys
    FROM user_writes GROUP BY Identity, Minute
), facet_minutes AS (
    SELECT 'minutes' AS Facet, Identity, count(*) AS WriteMinutes, list(Minute) AS Minutes,
           list(Ops) AS OperationsPerMinute, count(*) FILTER (WHERE Deploys > 0) AS DeploymentMinutes
    FROM minute_counts GROUP BY Identity
), reached AS (
    SELECT * FROM user_writes WHERE Outcome <> 'refused_rbac'
), facet_daily AS (
    SELECT 'daily' AS Facet, date_trunc('day', Started) AS Day, Identity AS Caller, TokenHasMfa, count(*) AS Operations
    FROM reached GROUP BY Day, Caller, TokenHasMfa
), facet_targets AS (
    SELECT 'targets' AS Facet, lower(OperationName) AS OperationNameValue, Subscription AS SubscriptionId, TokenHasMfa,
           count(*) AS Operations, count(DISTINCT Identity) AS DistinctIdentities,
           list(DISTINCT Identity) AS Identities, max(Started) AS LastSeen
    FROM reached GROUP BY OperationNameValue, SubscriptionId, TokenHasMfa
)
SELECT * FROM facet_operations
UNION ALL BY NAME SELECT * FROM facet_minutes
UNION ALL BY NAME SELECT * FROM facet_daily
UNION ALL BY NAME SELECT * FROM facet_targets
