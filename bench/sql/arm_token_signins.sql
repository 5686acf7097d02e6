-- Hand-written DuckDB SQL equivalent of queries/arm_token_signins.kql, over the kit's typed views.
-- $start/$end are bound like the KQL parameters.
WITH signins AS (
    SELECT 'interactive' AS "Table", TimeGenerated, UserPrincipalName, AppId, AuthenticationProtocol, UserAgent,
           ResultType, AuthenticationRequirement, AuthenticationDetails, AuthenticationProcessingDetails,
           CAST(Status AS VARCHAR) AS StatusText, DeviceDetail ->> '$.deviceId' AS DeviceId, IncomingTokenType,
           IsThroughGlobalSecureAccess, HomeTenantId, ResourceTenantId, CrossTenantAccessType, IPAddress,
           AutonomousSystemNumber, SessionId, UserId, UserType, UserDisplayName, AppDisplayName
    FROM SigninLogs
    WHERE TimeGenerated BETWEEN $start AND $end AND ResourceIdentity = '797f4846-ba00-4fd7-ba43-dac1f8f63013'
    UNION ALL
    SELECT 'noninteractive', TimeGenerated, UserPrincipalName, AppId, AuthenticationProtocol, UserAgent,
           ResultType, AuthenticationRequirement, AuthenticationDetails, AuthenticationProcessingDetails,
           Status, DeviceDetail ->> '$.deviceId', IncomingTokenType,
           IsThroughGlobalSecureAccess, HomeTenantId, ResourceTenantId, CrossTenantAccessType, IPAddress,
           AutonomousSystemNumber, SessionId, UserId, UserType, UserDisplayName, AppDisplayName
    FROM AADNonInteractiveUserSignInLogs
    WHERE TimeGenerated BETWEEN $start AND $end AND ResourceIdentity = '797f4846-ba00-4fd7-ba43-dac1f8f63013'
), flags AS (
    SELECT *,
        coalesce(ResultType, '') AS Result,
        coalesce(ResultType, '') = '0' AS IsOk,
        regexp_extract(coalesce(AuthenticationProcessingDetails, ''),
            'Azure AD App Authentication Library"\s*,\s*"value"\s*:\s*"([^"]*)"', 1) AS Library,
        lower(coalesce(AuthenticationProtocol, '')) AS Protocol,
        coalesce(contains(lower(AuthenticationDetails), 'mfa requirement satisfied by claim')
            OR contains(lower(AuthenticationDetails), 'mfa successfully completed')
            OR contains(lower(StatusText), 'mfa requirement satisfied by claim'), false) AS MfaByClaim,
        coalesce(HomeTenantId, '') <> '' AND coalesce(ResourceTenantId, '') <> ''
            AND HomeTenantId <> ResourceTenantId AS CrossTenant
    FROM signins
), mfa AS (
    SELECT *, IsOk AND (coalesce(AuthenticationRequirement = 'multiFactorAuthentication', false) OR MfaByClaim) AS TokenMfa
    FROM flags
)
SELECT
    lower(coalesce(UserPrincipalName, '')) AS Identity, AppId, Protocol, Library, UserAgent,
    count(*) AS SignIns,
    count(*) FILTER (WHERE IsOk) AS Succeeded,
    count(*) FILTER (WHERE IsOk AND NOT TokenMfa) AS SingleFactor,
    count(*) FILTER (WHERE TokenMfa) AS MfaSatisfied,
    count(*) FILTER (WHERE Result IN ('50074', '50076', '50079')) AS MfaRequiredFailures,
    count(*) FILTER (WHERE "Table" = 'interactive') AS Interactive,
    count(*) FILTER (WHERE "Table" = 'noninteractive') AS NonInteractive,
    count(*) FILTER (WHERE Protocol = 'ropc') AS Ropc,
    count(*) FILTER (WHERE Protocol = 'devicecode') AS DeviceCode,
    count(*) FILTER (WHERE IncomingTokenType = 'refreshToken') AS RefreshToken,
    count(*) FILTER (WHERE coalesce(DeviceId, '') <> '') AS WithDevice,
    count(DISTINCT coalesce(DeviceId, '')) AS Devices,
    count(*) FILTER (WHERE IsThroughGlobalSecureAccess) AS ThroughGsa,
    count(*) FILTER (WHERE CrossTenant) AS CrossTenantSignIns,
    list(DISTINCT CrossTenantAccessType) FILTER (WHERE CrossTenantAccessType IS NOT NULL)[1:5] AS CrossTenantTypes,
    list(DISTINCT HomeTenantId) FILTER (WHERE HomeTenantId IS NOT NULL)[1:5] AS HomeTenants,
    count(DISTINCT IPAddress) AS DistinctIps,
    list(DISTINCT IPAddress) FILTER (WHERE IPAddress IS NOT NULL)[1:20] AS Ips,
    count(DISTINCT AutonomousSystemNumber) AS DistinctAsns,
    list(DISTINCT AutonomousSystemNumber) FILTER (WHERE AutonomousSystemNumber IS NOT NULL)[1:10] AS Asns,
    count(DISTINCT SessionId) AS Sessions,
    count(DISTINCT date_trunc('day', TimeGenerated)) AS ActiveDays,
    min(TimeGenerated) AS FirstSeen,
    max(TimeGenerated) AS LastSeen,
    any_value(UserId) AS UserId,
    any_value(UserType) AS UserType,
    any_value(UserDisplayName) AS DisplayName,
    any_value(AppDisplayName) AS AppDisplayName
FROM mfa
GROUP BY ALL
ORDER BY Identity, AppId, Protocol, Library, UserAgent
