-- The per-operation stage shared by arm_operations and arm_writes_by_identity, by hand over the kit's
-- typed views: one row per (CorrelationId, identity, principal kind), Microsoft's rule applied per
-- event. Included by those two files (the `-- include:` line); it ends inside a WITH clause.
events AS (
    SELECT
        TimeGenerated, CorrelationId, OperationNameValue, CallerIpAddress, SubscriptionId, ActivityStatusValue, Caller,
        lower(OperationNameValue) AS op,
        CASE
            WHEN ends_with(lower(OperationNameValue), '/write') THEN 'write'
            WHEN ends_with(lower(OperationNameValue), '/delete') THEN 'delete'
            WHEN ends_with(lower(OperationNameValue), '/action') THEN 'action'
            ELSE ''
        END AS Kind,
        coalesce(Claims_d ->> '$.idtyp', '') AS Idtyp,
        contains(Caller, '@') AS CallerIsUpn,
        Claims, Claims_d, Properties_d
    FROM AzureActivity
    WHERE TimeGenerated >= $start AND TimeGenerated < $end AND CategoryValue = 'Administrative'
), claimed AS (
    SELECT *,
        CASE WHEN Idtyp <> 'app' AND NOT CallerIsUpn
             THEN coalesce(Claims_d ->> '$."http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn"', '') ELSE '' END AS Upn
    FROM events WHERE Kind <> ''
), judged AS (
    SELECT *,
        CASE WHEN Idtyp = '' AND NOT CallerIsUpn AND Upn = ''
             THEN coalesce(Claims_d ->> '$."http://schemas.microsoft.com/identity/claims/scope"', '') ELSE '' END AS Scope,
        coalesce(Claims_d ->> '$."http://schemas.microsoft.com/claims/authnmethodsreferences"', '') AS Amr,
        CASE WHEN Claims IS NULL OR Claims = '' OR contains(Claims, 'acrs') THEN coalesce(Claims_d ->> '$.acrs', '') ELSE '' END AS Acrs,
        coalesce(Claims_d ->> '$.appid', '') AS AppId,
        CASE WHEN lower(ActivityStatusValue) IN ('start', 'started')
             THEN coalesce(Claims_d ->> '$."http://schemas.microsoft.com/identity/claims/objectidentifier"', '') ELSE '' END AS ObjectId,
        lower(ActivityStatusValue) IN ('failure', 'failed') AS Failed
    FROM claimed
), rows AS (
    SELECT *,
        CASE WHEN Idtyp = 'user' THEN 'user' WHEN Idtyp = 'app' THEN 'workload'
             WHEN Upn <> '' OR Scope <> '' OR CallerIsUpn THEN 'user' ELSE 'workload' END AS Principal,
        list_contains(string_split(Amr, ','), 'mfa') OR list_contains(string_split(Acrs, ','), 'p1') AS HasMfa,
        CASE WHEN Failed THEN coalesce(Properties_d ->> '$.statusMessage', '') ELSE '' END AS StatusMessage
    FROM judged
), coded AS (
    SELECT *,
        lower(CASE WHEN Principal = 'user' AND NOT CallerIsUpn AND Upn <> '' THEN Upn ELSE Caller END) AS Identity,
        CASE WHEN Failed THEN coalesce(TRY_CAST(StatusMessage AS JSON) ->> '$.error.code', '') ELSE '' END AS ErrorCode,
        (StatusMessage ILIKE '%4e6c27d5-a6ee-49cf-b2b4-d8fe90fa2b8b%' OR StatusMessage ILIKE '%db4a9d17-db75-4f46-9fcb-9f9526604417%'
         OR StatusMessage ILIKE '%sys.mfa-write%' OR StatusMessage ILIKE '%sys.mfa-delete%') AS MfaPolicy
    FROM rows
), per_op AS (
    SELECT
        CorrelationId, Identity, Principal,
        min(TimeGenerated) AS Started,
        count(*) FILTER (WHERE Kind = 'write') AS WriteEvents,
        count(*) FILTER (WHERE Kind = 'delete') AS DeleteEvents,
        count(*) FILTER (WHERE NOT HasMfa) AS EventsWithoutMfa,
        count(*) FILTER (WHERE ErrorCode = 'AuthorizationFailed') AS RbacRefusals,
        count(*) FILTER (WHERE ErrorCode = 'RequestDisallowedByPolicy' AND MfaPolicy) AS MfaDenials,
        count(*) FILTER (WHERE Failed) AS Failures,
        count(*) FILTER (WHERE op = 'microsoft.resources/deployments/write') AS DeploymentEvents,
        max(AppId) AS AppId,
        max(ObjectId) AS ObjectId,
        max(OperationNameValue) AS OperationName,
        max(CASE WHEN HasMfa THEN '' ELSE Amr END) AS AmrWithoutMfa,
        max(CallerIpAddress) AS CallerIp,
        max(lower(SubscriptionId)) AS Subscription
    FROM coded
    GROUP BY CorrelationId, Identity, Principal
), operations AS (
    SELECT *,
        CASE WHEN WriteEvents > 0 THEN 'write' WHEN DeleteEvents > 0 THEN 'delete' ELSE 'action' END AS Kind,
        EventsWithoutMfa = 0 AS TokenHasMfa,
        CASE WHEN RbacRefusals > 0 THEN 'refused_rbac' WHEN MfaDenials > 0 THEN 'denied_mfa'
             WHEN Failures > 0 THEN 'failed' ELSE 'succeeded' END AS Outcome
    FROM per_op
)
