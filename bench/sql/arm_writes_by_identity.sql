-- Hand-written DuckDB SQL equivalent of queries/arm_writes_by_identity.kql over the kit's typed views.
WITH ops AS (
    SELECT
        TimeGenerated, CorrelationId, OperationNameValue, ActivityStatusValue, SubscriptionId, CallerIpAddress, Caller,
        coalesce(Authorization_d ->> '$.evidence.principalType', '') AS PrincipalType,
        coalesce(Claims_d ->> '$."http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn"', '') AS Upn,
        coalesce(Claims_d ->> '$."http://schemas.microsoft.com/claims/authnmethodsreferences"', '') AS Amr,
        coalesce(Claims_d ->> '$.appid', '') AS AppId,
        coalesce(Claims_d ->> '$."http://schemas.microsoft.com/identity/claims/objectidentifier"', '') AS ObjectIdClaim,
        coalesce(Claims_d ->> '$."http://schemas.microsoft.com/identity/claims/identityprovider"', '') AS IdpClaim,
        lower(OperationNameValue) AS op
    FROM AzureActivity
    WHERE TimeGenerated BETWEEN $start AND $end
      AND CategoryValue = 'Administrative'
      AND (ends_with(lower(OperationNameValue), '/write') OR ends_with(lower(OperationNameValue), '/delete')
           OR ends_with(lower(OperationNameValue), '/action'))
), users AS (
    SELECT *,
        contains(Caller, '@') AS caller_is_upn,
        CASE WHEN ends_with(op, '/write') THEN 'write' WHEN ends_with(op, '/delete') THEN 'delete' ELSE 'action' END AS Kind,
        contains(lower(Amr), 'mfa') AS TokenHasMfa
    FROM ops
    WHERE PrincipalType = 'User' OR (PrincipalType = '' AND (contains(Caller, '@') OR contains(Upn, '@')))
)
SELECT
    lower(CASE WHEN caller_is_upn OR Upn = '' THEN Caller ELSE Upn END) AS Identity,
    AppId, Kind, TokenHasMfa,
    count(DISTINCT CorrelationId) AS Operations,
    count(*) AS Events,
    count(DISTINCT CorrelationId) FILTER (WHERE lower(ActivityStatusValue) IN ('failure', 'failed')) AS FailedOperations,
    count(DISTINCT CorrelationId) FILTER (WHERE op = 'microsoft.resources/deployments/write') AS Deployments,
    min(TimeGenerated) AS FirstSeen,
    max(TimeGenerated) AS LastSeen,
    count(DISTINCT date_trunc('day', TimeGenerated)) AS ActiveDays,
    list(DISTINCT Amr)[1:5] AS AmrValues,
    count(DISTINCT OperationNameValue) AS DistinctOperationNames,
    list(DISTINCT OperationNameValue)[1:10] AS OperationNames,
    count(DISTINCT SubscriptionId) AS DistinctSubscriptions,
    list(DISTINCT SubscriptionId)[1:10] AS Subscriptions,
    count(DISTINCT CallerIpAddress) AS DistinctCallerIps,
    list(DISTINCT CallerIpAddress)[1:20] AS CallerIps,
    any_value(ObjectIdClaim) AS ObjectId,
    list(DISTINCT IdpClaim)[1:5] AS IdentityProviders
FROM users
GROUP BY ALL
ORDER BY Identity, AppId, Kind, TokenHasMfa
