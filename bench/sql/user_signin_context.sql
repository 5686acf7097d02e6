-- Hand-written DuckDB SQL equivalent of queries/user_signin_context.kql, over the kit's typed views.
-- $start/$end are bound like the KQL parameters. Written the way a DuckDB user would: columns are
-- used with their known types (no per-row type dispatch), one regex for `has_any`, list(DISTINCT)
-- for make_set. DeviceDetail/Status are JSON in SigninLogs and JSON text in the non-interactive
-- table; the JSON functions read both.
WITH signins AS (
    SELECT 'interactive' AS "Table", TimeGenerated, UserPrincipalName, ResultType, AuthenticationRequirement,
           AuthenticationDetails, CAST(Status AS VARCHAR) AS StatusText, ResourceIdentity, ClientAppUsed,
           AppDisplayName, AppId, DeviceDetail ->> '$.deviceId' AS DeviceId,
           DeviceDetail ->> '$.isManaged' AS IsManaged, DeviceDetail ->> '$.isCompliant' AS IsCompliant,
           DeviceDetail ->> '$.trustType' AS TrustType, HomeTenantId, ResourceTenantId, IsThroughGlobalSecureAccess,
           IPAddress, AutonomousSystemNumber, UserId, UserType, UserDisplayName
    FROM SigninLogs
    WHERE TimeGenerated BETWEEN $start AND $end
    UNION ALL
    SELECT 'noninteractive', TimeGenerated, UserPrincipalName, ResultType, AuthenticationRequirement,
           AuthenticationDetails, Status, ResourceIdentity, ClientAppUsed,
           AppDisplayName, AppId, DeviceDetail ->> '$.deviceId',
           DeviceDetail ->> '$.isManaged', DeviceDetail ->> '$.isCompliant',
           DeviceDetail ->> '$.trustType', HomeTenantId, ResourceTenantId, IsThroughGlobalSecureAccess,
           IPAddress, AutonomousSystemNumber, UserId, UserType, UserDisplayName
    FROM AADNonInteractiveUserSignInLogs
    WHERE TimeGenerated BETWEEN $start AND $end
), flags AS (
    SELECT *,
        coalesce(ResultType, '') = '0' AS IsOk,
        coalesce(ResourceIdentity = '797f4846-ba00-4fd7-ba43-dac1f8f63013', false) AS IsArm,
        coalesce(ClientAppUsed = 'Browser', false) AS IsBrowser,
        coalesce(regexp_matches(AppDisplayName,
            '(?i)(?:^|[^\pL\pN])(?:Office|Outlook|Teams|SharePoint|OneDrive|Exchange|Word|Excel|PowerPoint)(?:$|[^\pL\pN])'),
            false) AS IsOffice,
        coalesce(DeviceId, '') <> '' AS HasDevice,
        lower(coalesce(IsManaged, '')) = 'true' OR lower(coalesce(IsCompliant, '')) = 'true'
            OR coalesce(TrustType, '') <> '' AS Managed,
        coalesce(HomeTenantId, '') <> '' AND coalesce(ResourceTenantId, '') <> ''
            AND HomeTenantId <> ResourceTenantId AS CrossTenant,
        coalesce(contains(lower(AuthenticationDetails), 'mfa requirement satisfied by claim')
            OR contains(lower(AuthenticationDetails), 'mfa successfully completed')
            OR contains(lower(StatusText), 'mfa requirement satisfied by claim'), false) AS MfaByClaim
    FROM signins
), mfa AS (
    SELECT *, IsOk AND (coalesce(AuthenticationRequirement = 'multiFactorAuthentication', false) OR MfaByClaim) AS TokenMfa
    FROM flags
)
SELECT
    lower(coalesce(UserPrincipalName, '')) AS Identity,
    count(*) AS SignIns,
    count(*) FILTER (WHERE IsArm) AS ArmSignIns,
    count(*) FILTER (WHERE NOT IsArm) AS OtherSignIns,
    count(*) FILTER (WHERE "Table" = 'interactive') AS InteractiveSignIns,
    count(*) FILTER (WHERE IsBrowser) AS BrowserSignIns,
    count(*) FILTER (WHERE IsOffice) AS OfficeSignIns,
    count(*) FILTER (WHERE TokenMfa) AS MfaSignIns,
    count(*) FILTER (WHERE TokenMfa AND "Table" = 'interactive') AS InteractiveMfaSignIns,
    count(*) FILTER (WHERE ResultType IN ('50074', '50076', '50079')) AS MfaRequiredFailures,
    count(*) FILTER (WHERE NOT IsOk) AS FailedSignIns,
    count(*) FILTER (WHERE HasDevice) AS WithDevice,
    count(*) FILTER (WHERE Managed) AS ManagedDevice,
    count(*) FILTER (WHERE IsThroughGlobalSecureAccess) AS ThroughGsa,
    count(*) FILTER (WHERE CrossTenant) AS CrossTenantSignIns,
    list(DISTINCT HomeTenantId) FILTER (WHERE HomeTenantId IS NOT NULL)[1:5] AS HomeTenants,
    count(DISTINCT AppId) AS DistinctApps,
    list(DISTINCT AppDisplayName) FILTER (WHERE AppDisplayName IS NOT NULL)[1:15] AS Apps,
    count(DISTINCT IPAddress) AS DistinctIps,
    count(DISTINCT AutonomousSystemNumber) AS DistinctAsns,
    list(DISTINCT AutonomousSystemNumber) FILTER (WHERE AutonomousSystemNumber IS NOT NULL)[1:10] AS Asns,
    count(DISTINCT date_trunc('day', TimeGenerated)) AS ActiveDays,
    min(TimeGenerated) AS FirstSeen,
    max(TimeGenerated) AS LastSeen,
    any_value(UserId) AS UserId,
    any_value(UserType) AS UserType,
    any_value(UserDisplayName) AS DisplayName
FROM mfa
GROUP BY 1
ORDER BY 1
