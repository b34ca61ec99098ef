"""Coder's deployment options (codersdk/deployment.go), as data.

Transcribed from `DeploymentValues.Options()` and its `clibase.Group` definitions as of
mid-2023 (Coder v0.24 era: clibase, `annotationExternalProxies`, Git Auth providers, Support
Links, wgtunnel host, `--dangerous-allow-cors-requests`). Names, flags, env names, YAML keys,
groups, hidden flags, annotations and "use instead" links follow that source; `key` is the
option's dotted path in the DeploymentValues JSON (its `json:"..."` struct tags).

Defaults are Coder's, rendered as text the way Go prints them, except where pycoderd differs
(each marked "pycoderd default").
"""

from app.option_types import Option, OptionGroup

# Annotation sets used by Coder's table.
_PROXY = {"external_workspace_proxies": "true"}
_SECRET = {"secret": "true"}
_SECRET_PROXY = {"secret": "true", "external_workspace_proxies": "true"}
_ENTERPRISE = {"enterprise": "true"}
_ENTERPRISE_SECRET = {"enterprise": "true", "secret": "true"}

GROUPS = (
    OptionGroup(name="Networking", yaml="networking"),
    OptionGroup(
        name="TLS",
        yaml="tls",
        description=(
            "Configure TLS / HTTPS for your Coder deployment. If you're running\n"
            "Coder behind a TLS-terminating reverse proxy or are accessing Coder over a\n"
            "secure link, you can safely ignore these settings."
        ),
        parent="Networking",
    ),
    OptionGroup(name="HTTP", yaml="http", parent="Networking"),
    OptionGroup(
        name="DERP",
        yaml="derp",
        description=(
            "Most Coder deployments never have to think about DERP because all connections\n"
            "between workspaces and users are peer-to-peer. However, when Coder cannot establish\n"
            "a peer to peer connection, Coder uses a distributed relay network backed by\n"
            "Tailscale and WireGuard."
        ),
        parent="Networking",
    ),
    OptionGroup(
        name="Introspection",
        yaml="introspection",
        description="Configure logging, tracing, and metrics exporting.",
    ),
    OptionGroup(name="pprof", yaml="pprof", parent="Introspection"),
    OptionGroup(name="Prometheus", yaml="prometheus", parent="Introspection"),
    OptionGroup(name="Tracing", yaml="tracing", parent="Introspection"),
    OptionGroup(name="Logging", yaml="logging", parent="Introspection"),
    OptionGroup(
        name="OAuth2",
        yaml="oauth2",
        description="Configure login and user-provisioning with GitHub via oAuth2.",
    ),
    OptionGroup(name="GitHub", yaml="github", parent="OAuth2"),
    OptionGroup(name="OIDC", yaml="oidc"),
    OptionGroup(
        name="Telemetry",
        yaml="telemetry",
        description=(
            "Telemetry is critical to our ability to improve Coder. We strip all personal\n"
            "information before sending data to our servers. Please only disable telemetry\n"
            "when required by your organization's security policy."
        ),
    ),
    OptionGroup(
        name="Provisioning",
        yaml="provisioning",
        description=(
            "Tune the behavior of the provisioner, which is responsible for creating, "
            "updating, and deleting workspace resources."
        ),
    ),
    OptionGroup(name="⚠️ Dangerous", yaml="dangerous"),
    OptionGroup(
        name="Client",
        yaml="client",
        description=(
            "These options change the behavior of how clients interact with the Coder. "
            "Clients include the coder cli, vs code extension, and the web UI."
        ),
    ),
    OptionGroup(
        name="Config",
        description="Use a YAML configuration file when your server launch become unwieldy.",
    ),
    OptionGroup(name="pycoderd", yaml="pycoderd", description="Options of pycoderd itself."),
)

OPTIONS = (
    Option(
        name="Access URL",
        key="access_url",
        type="url",
        description="The URL that users will use to access the Coder deployment.",
        flag="access-url",
        env="CODER_ACCESS_URL",
        yaml="accessURL",
        group="Networking",
        annotations=dict(_PROXY),
        acted_on=True,
    ),
    Option(
        name="Wildcard Access URL",
        key="wildcard_access_url",
        type="url",
        description=(
            "Specifies the wildcard hostname to use for workspace applications in the form "
            '"*.example.com".'
        ),
        flag="wildcard-access-url",
        env="CODER_WILDCARD_ACCESS_URL",
        yaml="wildcardAccessURL",
        group="Networking",
        annotations=dict(_PROXY),
        acted_on=True,
    ),
    Option(
        name="Redirect to Access URL",
        key="redirect_to_access_url",
        type="bool",
        description="Specifies whether to redirect requests that do not match the access URL host.",
        flag="redirect-to-access-url",
        env="CODER_REDIRECT_TO_ACCESS_URL",
        yaml="redirectToAccessURL",
        group="Networking",
    ),
    Option(
        name="Autobuild Poll Interval",
        key="autobuild_poll_interval",
        type="duration",
        description="Interval to poll for scheduled workspace builds.",
        help=(
            "How often workspaces are checked for auto-off: one ON and unused for longer than "
            "its organization's auto_off_threshold is stopped (pycoderd has no scheduled builds)."
        ),
        flag="autobuild-poll-interval",
        env="CODER_AUTOBUILD_POLL_INTERVAL",
        yaml="autobuildPollInterval",
        default="1m0s",
        hidden=True,
        acted_on=True,
    ),
    Option(
        name="HTTP Address",
        key="http_address",
        # clibase.String in Coder ("may be set to zero to disable"); validated as host:port here.
        type="host:port",
        description="HTTP bind address of the server. Unset to disable the HTTP endpoint.",
        flag="http-address",
        env="CODER_HTTP_ADDRESS",
        yaml="httpAddress",
        default="127.0.0.1:3000",
        group="HTTP",
        annotations=dict(_PROXY),
        acted_on=True,
    ),
    Option(
        name="TLS Address",
        key="tls.address",
        type="host:port",
        description="HTTPS bind address of the server.",
        flag="tls-address",
        env="CODER_TLS_ADDRESS",
        yaml="address",
        default="127.0.0.1:3443",
        group="TLS",
        annotations=dict(_PROXY),
    ),
    Option(
        name="Address",
        key="address",
        type="host:port",
        description="Bind address of the server.",
        flag="address",
        flag_shorthand="a",
        env="CODER_ADDRESS",
        group="Networking",
        hidden=True,
        annotations=dict(_PROXY),
        use_instead=("HTTP Address", "TLS Address"),
    ),
    # TLS settings
    Option(
        name="TLS Enable",
        key="tls.enable",
        type="bool",
        description="Whether TLS will be enabled.",
        flag="tls-enable",
        env="CODER_TLS_ENABLE",
        yaml="enable",
        group="TLS",
        annotations=dict(_PROXY),
    ),
    Option(
        name="Redirect HTTP to HTTPS",
        key="tls.redirect_http",
        type="bool",
        description=(
            "Whether HTTP requests will be redirected to the access URL (if it's a https URL "
            "and TLS is enabled). Requests to local IP addresses are never redirected "
            "regardless of this setting."
        ),
        flag="tls-redirect-http-to-https",
        env="CODER_TLS_REDIRECT_HTTP_TO_HTTPS",
        yaml="redirectHTTP",
        default="true",
        group="TLS",
        hidden=True,
        annotations=dict(_PROXY),
        use_instead=("Redirect to Access URL",),
    ),
    Option(
        name="TLS Certificate Files",
        key="tls.cert_file",
        type="string-array",
        description=(
            "Path to each certificate for TLS. It requires a PEM-encoded file. To configure "
            "the listener to use a CA certificate, concatenate the primary certificate and the "
            "CA certificate together. The primary certificate should appear first in the "
            "combined file."
        ),
        flag="tls-cert-file",
        env="CODER_TLS_CERT_FILE",
        yaml="certFiles",
        group="TLS",
        annotations=dict(_PROXY),
    ),
    Option(
        name="TLS Client CA Files",
        key="tls.client_ca_file",
        type="string",
        description=(
            "PEM-encoded Certificate Authority file used for checking the authenticity of client."
        ),
        flag="tls-client-ca-file",
        env="CODER_TLS_CLIENT_CA_FILE",
        yaml="clientCAFile",
        group="TLS",
        annotations=dict(_PROXY),
    ),
    Option(
        name="TLS Client Auth",
        key="tls.client_auth",
        type="string",
        description=(
            "Policy the server will follow for TLS Client Authentication. Accepted values are "
            '"none", "request", "require-any", "verify-if-given", or "require-and-verify".'
        ),
        flag="tls-client-auth",
        env="CODER_TLS_CLIENT_AUTH",
        yaml="clientAuth",
        default="none",
        group="TLS",
        annotations=dict(_PROXY),
    ),
    Option(
        name="TLS Key Files",
        key="tls.key_file",
        type="string-array",
        description=(
            "Paths to the private keys for each of the certificates. It requires a PEM-encoded "
            "file."
        ),
        flag="tls-key-file",
        env="CODER_TLS_KEY_FILE",
        yaml="keyFiles",
        group="TLS",
        annotations=dict(_PROXY),
    ),
    Option(
        name="TLS Minimum Version",
        key="tls.min_version",
        type="string",
        description=(
            'Minimum supported version of TLS. Accepted values are "tls10", "tls11", "tls12" '
            'or "tls13".'
        ),
        flag="tls-min-version",
        env="CODER_TLS_MIN_VERSION",
        yaml="minVersion",
        default="tls12",
        group="TLS",
        annotations=dict(_PROXY),
    ),
    Option(
        name="TLS Client Cert File",
        key="tls.client_cert_file",
        type="string",
        description=(
            "Path to certificate for client TLS authentication. It requires a PEM-encoded file."
        ),
        flag="tls-client-cert-file",
        env="CODER_TLS_CLIENT_CERT_FILE",
        yaml="clientCertFile",
        group="TLS",
        annotations=dict(_PROXY),
    ),
    Option(
        name="TLS Client Key File",
        key="tls.client_key_file",
        type="string",
        description="Path to key for client TLS authentication. It requires a PEM-encoded file.",
        flag="tls-client-key-file",
        env="CODER_TLS_CLIENT_KEY_FILE",
        yaml="clientKeyFile",
        group="TLS",
        annotations=dict(_PROXY),
    ),
    # DERP settings
    Option(
        name="DERP Server Enable",
        key="derp.server.enable",
        type="bool",
        description="Whether to enable or disable the embedded DERP relay server.",
        flag="derp-server-enable",
        env="CODER_DERP_SERVER_ENABLE",
        yaml="enable",
        default="true",
        group="DERP",
    ),
    Option(
        name="DERP Server Region ID",
        key="derp.server.region_id",
        type="int",
        description="Region ID to use for the embedded DERP server.",
        flag="derp-server-region-id",
        env="CODER_DERP_SERVER_REGION_ID",
        yaml="regionID",
        default="999",
        group="DERP",
    ),
    Option(
        name="DERP Server Region Code",
        key="derp.server.region_code",
        type="string",
        description="Region code to use for the embedded DERP server.",
        flag="derp-server-region-code",
        env="CODER_DERP_SERVER_REGION_CODE",
        yaml="regionCode",
        default="coder",
        group="DERP",
    ),
    Option(
        name="DERP Server Region Name",
        key="derp.server.region_name",
        type="string",
        description="Region name that for the embedded DERP server.",
        flag="derp-server-region-name",
        env="CODER_DERP_SERVER_REGION_NAME",
        yaml="regionName",
        default="Coder Embedded Relay",
        group="DERP",
    ),
    Option(
        name="DERP Server STUN Addresses",
        key="derp.server.stun_addresses",
        type="string-array",
        description=(
            "Addresses for STUN servers to establish P2P connections. Use special value "
            "'disable' to turn off STUN."
        ),
        flag="derp-server-stun-addresses",
        env="CODER_DERP_SERVER_STUN_ADDRESSES",
        yaml="stunAddresses",
        default="stun.l.google.com:19302",
        group="DERP",
    ),
    Option(
        name="DERP Server Relay URL",
        key="derp.server.relay_url",
        type="url",
        description=(
            "An HTTP URL that is accessible by other replicas to relay DERP traffic. Required "
            "for high availability."
        ),
        flag="derp-server-relay-url",
        env="CODER_DERP_SERVER_RELAY_URL",
        yaml="relayURL",
        group="DERP",
        annotations=dict(_ENTERPRISE),
    ),
    Option(
        name="DERP Config URL",
        key="derp.config.url",
        type="string",
        description=(
            "URL to fetch a DERP mapping on startup. See: "
            "https://tailscale.com/kb/1118/custom-derp-servers/."
        ),
        flag="derp-config-url",
        env="CODER_DERP_CONFIG_URL",
        yaml="url",
        group="DERP",
    ),
    Option(
        name="DERP Config Path",
        key="derp.config.path",
        type="string",
        description=(
            "Path to read a DERP mapping from. See: "
            "https://tailscale.com/kb/1118/custom-derp-servers/."
        ),
        flag="derp-config-path",
        env="CODER_DERP_CONFIG_PATH",
        yaml="configPath",
        group="DERP",
    ),
    # Prometheus settings
    Option(
        name="Prometheus Enable",
        key="prometheus.enable",
        type="bool",
        description="Serve prometheus metrics on the address defined by prometheus address.",
        flag="prometheus-enable",
        env="CODER_PROMETHEUS_ENABLE",
        yaml="enable",
        group="Prometheus",
        annotations=dict(_PROXY),
        acted_on=True,
    ),
    Option(
        name="Prometheus Address",
        key="prometheus.address",
        type="host:port",
        description="The bind address to serve prometheus metrics.",
        flag="prometheus-address",
        env="CODER_PROMETHEUS_ADDRESS",
        yaml="address",
        default="127.0.0.1:2112",
        group="Prometheus",
        annotations=dict(_PROXY),
        acted_on=True,
    ),
    Option(
        name="Prometheus Collect Agent Stats",
        key="prometheus.collect_agent_stats",
        type="bool",
        description="Collect agent stats (may increase charges for metrics storage).",
        flag="prometheus-collect-agent-stats",
        env="CODER_PROMETHEUS_COLLECT_AGENT_STATS",
        yaml="collect_agent_stats",
        group="Prometheus",
    ),
    # pprof settings
    Option(
        name="pprof Enable",
        key="pprof.enable",
        type="bool",
        description="Serve pprof metrics on the address defined by pprof address.",
        flag="pprof-enable",
        env="CODER_PPROF_ENABLE",
        yaml="enable",
        group="pprof",
        annotations=dict(_PROXY),
    ),
    Option(
        name="pprof Address",
        key="pprof.address",
        type="host:port",
        description="The bind address to serve pprof.",
        flag="pprof-address",
        env="CODER_PPROF_ADDRESS",
        yaml="address",
        default="127.0.0.1:6060",
        group="pprof",
        annotations=dict(_PROXY),
    ),
    # OAuth2 (GitHub) settings
    Option(
        name="OAuth2 GitHub Client ID",
        key="oauth2.github.client_id",
        type="string",
        description="Client ID for Login with GitHub.",
        flag="oauth2-github-client-id",
        env="CODER_OAUTH2_GITHUB_CLIENT_ID",
        yaml="clientID",
        group="GitHub",
    ),
    Option(
        name="OAuth2 GitHub Client Secret",
        key="oauth2.github.client_secret",
        type="string",
        description="Client secret for Login with GitHub.",
        flag="oauth2-github-client-secret",
        env="CODER_OAUTH2_GITHUB_CLIENT_SECRET",
        group="GitHub",
        secret=True,
        annotations=dict(_SECRET),
    ),
    Option(
        name="OAuth2 GitHub Allowed Orgs",
        key="oauth2.github.allowed_orgs",
        type="string-array",
        description="Organizations the user must be a member of to Login with GitHub.",
        flag="oauth2-github-allowed-orgs",
        env="CODER_OAUTH2_GITHUB_ALLOWED_ORGS",
        yaml="allowedOrgs",
        group="GitHub",
    ),
    Option(
        name="OAuth2 GitHub Allowed Teams",
        key="oauth2.github.allowed_teams",
        type="string-array",
        description=(
            "Teams inside organizations the user must be a member of to Login with GitHub. "
            "Structured as: <organization-name>/<team-slug>."
        ),
        flag="oauth2-github-allowed-teams",
        env="CODER_OAUTH2_GITHUB_ALLOWED_TEAMS",
        yaml="allowedTeams",
        group="GitHub",
    ),
    Option(
        name="OAuth2 GitHub Allow Signups",
        key="oauth2.github.allow_signups",
        type="bool",
        description="Whether new users can sign up with GitHub.",
        flag="oauth2-github-allow-signups",
        env="CODER_OAUTH2_GITHUB_ALLOW_SIGNUPS",
        yaml="allowSignups",
        group="GitHub",
    ),
    Option(
        name="OAuth2 GitHub Allow Everyone",
        key="oauth2.github.allow_everyone",
        type="bool",
        description=(
            "Allow all logins, setting this option means allowed orgs and teams must be empty."
        ),
        flag="oauth2-github-allow-everyone",
        env="CODER_OAUTH2_GITHUB_ALLOW_EVERYONE",
        yaml="allowEveryone",
        group="GitHub",
    ),
    Option(
        name="OAuth2 GitHub Enterprise Base URL",
        key="oauth2.github.enterprise_base_url",
        type="string",
        description="Base URL of a GitHub Enterprise deployment to use for Login with GitHub.",
        flag="oauth2-github-enterprise-base-url",
        env="CODER_OAUTH2_GITHUB_ENTERPRISE_BASE_URL",
        yaml="enterpriseBaseURL",
        group="GitHub",
    ),
    # OIDC settings
    Option(
        name="OIDC Allow Signups",
        key="oidc.allow_signups",
        type="bool",
        description="Whether new users can sign up with OIDC.",
        flag="oidc-allow-signups",
        env="CODER_OIDC_ALLOW_SIGNUPS",
        yaml="allowSignups",
        default="true",
        group="OIDC",
    ),
    Option(
        name="OIDC Client ID",
        key="oidc.client_id",
        type="string",
        description="Client ID to use for Login with OIDC.",
        flag="oidc-client-id",
        env="CODER_OIDC_CLIENT_ID",
        yaml="clientID",
        group="OIDC",
    ),
    Option(
        name="OIDC Client Secret",
        key="oidc.client_secret",
        type="string",
        description="Client secret to use for Login with OIDC.",
        flag="oidc-client-secret",
        env="CODER_OIDC_CLIENT_SECRET",
        group="OIDC",
        secret=True,
        annotations=dict(_SECRET),
    ),
    Option(
        name="OIDC Email Domain",
        key="oidc.email_domain",
        type="string-array",
        description="Email domains that clients logging in with OIDC must match.",
        flag="oidc-email-domain",
        env="CODER_OIDC_EMAIL_DOMAIN",
        yaml="emailDomain",
        group="OIDC",
    ),
    Option(
        name="OIDC Issuer URL",
        key="oidc.issuer_url",
        type="string",
        description="Issuer URL to use for Login with OIDC.",
        flag="oidc-issuer-url",
        env="CODER_OIDC_ISSUER_URL",
        yaml="issuerURL",
        group="OIDC",
    ),
    Option(
        name="OIDC Scopes",
        key="oidc.scopes",
        type="string-array",
        description="Scopes to grant when authenticating with OIDC.",
        flag="oidc-scopes",
        env="CODER_OIDC_SCOPES",
        yaml="scopes",
        default="openid,profile,email",
        group="OIDC",
    ),
    Option(
        name="OIDC Ignore Email Verified",
        key="oidc.ignore_email_verified",
        type="bool",
        description="Ignore the email_verified claim from the upstream provider.",
        flag="oidc-ignore-email-verified",
        env="CODER_OIDC_IGNORE_EMAIL_VERIFIED",
        yaml="ignoreEmailVerified",
        group="OIDC",
    ),
    Option(
        name="OIDC Username Field",
        key="oidc.username_field",
        type="string",
        description="OIDC claim field to use as the username.",
        flag="oidc-username-field",
        env="CODER_OIDC_USERNAME_FIELD",
        yaml="usernameField",
        default="preferred_username",
        group="OIDC",
    ),
    Option(
        name="OIDC Email Field",
        key="oidc.email_field",
        type="string",
        description="OIDC claim field to use as the email.",
        flag="oidc-email-field",
        env="CODER_OIDC_EMAIL_FIELD",
        yaml="emailField",
        default="email",
        group="OIDC",
    ),
    Option(
        name="OIDC Auth URL Parameters",
        key="oidc.auth_url_params",
        type="struct",
        description="OIDC auth URL parameters to pass to the upstream provider.",
        flag="oidc-auth-url-params",
        env="CODER_OIDC_AUTH_URL_PARAMS",
        yaml="authURLParams",
        default='{"access_type": "offline"}',
        group="OIDC",
    ),
    Option(
        name="OIDC Ignore UserInfo",
        key="oidc.ignore_user_info",
        type="bool",
        description=(
            "Ignore the userinfo endpoint and only use the ID token for user information."
        ),
        flag="oidc-ignore-userinfo",
        env="CODER_OIDC_IGNORE_USERINFO",
        yaml="ignoreUserInfo",
        default="false",
        group="OIDC",
    ),
    Option(
        name="OIDC Group Field",
        key="oidc.groups_field",
        type="string",
        description=(
            "Change the OIDC default 'groups' claim field. By default, will be 'groups' if "
            "present in the oidc scopes argument."
        ),
        flag="oidc-group-field",
        env="CODER_OIDC_GROUP_FIELD",
        yaml="groupField",
        group="OIDC",
    ),
    Option(
        name="OIDC Group Mapping",
        key="oidc.group_mapping",
        type="struct",
        description=(
            "A map of OIDC group IDs and the group in Coder it should map to. This is useful "
            "for when OIDC providers only return group IDs."
        ),
        flag="oidc-group-mapping",
        env="CODER_OIDC_GROUP_MAPPING",
        yaml="groupMapping",
        default="{}",
        group="OIDC",
    ),
    Option(
        name="OpenID Connect sign in text",
        key="oidc.sign_in_text",
        type="string",
        description="The text to show on the OpenID Connect sign in button.",
        flag="oidc-sign-in-text",
        env="CODER_OIDC_SIGN_IN_TEXT",
        yaml="signInText",
        default="OpenID Connect",
        group="OIDC",
    ),
    Option(
        name="OpenID connect icon URL",
        key="oidc.icon_url",
        type="url",
        description="URL pointing to the icon to use on the OpenID Connect login button.",
        flag="oidc-icon-url",
        env="CODER_OIDC_ICON_URL",
        yaml="iconURL",
        group="OIDC",
    ),
    # Telemetry settings
    Option(
        name="Telemetry Enable",
        key="telemetry.enable",
        type="bool",
        description=(
            "Whether telemetry is enabled or not. Coder collects anonymized usage data to help "
            "improve our product."
        ),
        flag="telemetry",
        env="CODER_TELEMETRY_ENABLE",
        yaml="enable",
        default="true",  # strconv.FormatBool(flag.Lookup("test.v") == nil)
        group="Telemetry",
    ),
    Option(
        name="Telemetry Trace",
        key="telemetry.trace",
        type="bool",
        description=(
            "Whether Opentelemetry traces are sent to Coder. Coder collects anonymized "
            "application tracing to help improve our product. Disabling telemetry also "
            "disables this option."
        ),
        flag="telemetry-trace",
        env="CODER_TELEMETRY_TRACE",
        yaml="trace",
        default="true",  # strconv.FormatBool(flag.Lookup("test.v") == nil)
        group="Telemetry",
    ),
    Option(
        name="Telemetry URL",
        key="telemetry.url",
        type="url",
        description="URL to send telemetry.",
        flag="telemetry-url",
        env="CODER_TELEMETRY_URL",
        yaml="url",
        default="https://telemetry.coder.com",
        group="Telemetry",
        hidden=True,
    ),
    # Trace settings
    Option(
        name="Trace Enable",
        key="trace.enable",
        type="bool",
        description=(
            "Whether application tracing data is collected. It exports to a backend configured "
            "by environment variables. See: "
            "https://github.com/open-telemetry/opentelemetry-specification/blob/main/"
            "specification/protocol/exporter.md."
        ),
        flag="trace",
        env="CODER_TRACE_ENABLE",
        yaml="enable",
        group="Tracing",
        annotations=dict(_PROXY),
    ),
    Option(
        name="Trace Honeycomb API Key",
        key="trace.honeycomb_api_key",
        type="string",
        description="Enables trace exporting to Honeycomb.io using the provided API Key.",
        flag="trace-honeycomb-api-key",
        env="CODER_TRACE_HONEYCOMB_API_KEY",
        group="Tracing",
        secret=True,
        annotations=dict(_SECRET_PROXY),
    ),
    Option(
        name="Capture Logs in Traces",
        key="trace.capture_logs",
        type="bool",
        description=(
            "Enables capturing of logs as events in traces. This is useful for debugging, but "
            "may result in a very large amount of events being sent to the tracing backend "
            "which may incur significant costs. If the verbose flag was supplied, debug-level "
            "logs will be included."
        ),
        flag="trace-logs",
        env="CODER_TRACE_LOGS",
        yaml="captureLogs",
        group="Tracing",
        annotations=dict(_PROXY),
    ),
    # Provisioner settings
    Option(
        name="Provisioner Daemons",
        key="provisioner.daemons",
        type="int",
        description=(
            "Number of provisioner daemons to create on start. If builds are stuck in queued "
            "state for a long time, consider increasing this."
        ),
        flag="provisioner-daemons",
        env="CODER_PROVISIONER_DAEMONS",
        yaml="daemons",
        default="3",
        group="Provisioning",
        acted_on=True,
    ),
    Option(
        name="Poll Interval",
        key="provisioner.daemon_poll_interval",
        type="duration",
        description="Time to wait before polling for a new job.",
        flag="provisioner-daemon-poll-interval",
        env="CODER_PROVISIONER_DAEMON_POLL_INTERVAL",
        yaml="daemonPollInterval",
        default="1s",
        group="Provisioning",
        acted_on=True,
    ),
    Option(
        name="Poll Jitter",
        key="provisioner.daemon_poll_jitter",
        type="duration",
        description="Random jitter added to the poll interval.",
        flag="provisioner-daemon-poll-jitter",
        env="CODER_PROVISIONER_DAEMON_POLL_JITTER",
        yaml="daemonPollJitter",
        default="100ms",
        group="Provisioning",
    ),
    Option(
        name="Force Cancel Interval",
        key="provisioner.force_cancel_interval",
        type="duration",
        description="Time to force cancel provisioning tasks that are stuck.",
        flag="provisioner-force-cancel-interval",
        env="CODER_PROVISIONER_FORCE_CANCEL_INTERVAL",
        yaml="forceCancelInterval",
        default="10m0s",
        group="Provisioning",
    ),
    # Rate limit settings
    Option(
        name="Disable All Rate Limits",
        key="rate_limit.disable_all",
        type="bool",
        description="Disables all rate limits. This is not recommended in production.",
        flag="dangerous-disable-rate-limits",
        env="CODER_DANGEROUS_DISABLE_RATE_LIMITS",
        hidden=True,
        annotations=dict(_PROXY),
        acted_on=True,
    ),
    Option(
        name="API Rate Limit",
        key="rate_limit.api",
        type="int",
        description=(
            "Maximum number of requests per minute allowed to the API per user, or per IP "
            "address for unauthenticated users. Negative values mean no rate limit. Some API "
            "endpoints have separate strict rate limits regardless of this value to prevent "
            "denial-of-service or brute force attacks."
        ),
        flag="api-rate-limit",
        env="CODER_API_RATE_LIMIT",
        default="512",
        hidden=True,
        annotations=dict(_PROXY),
        acted_on=True,
    ),
    # Logging settings
    Option(
        name="Verbose",
        key="verbose",
        type="bool",
        description="Output debug-level logs.",
        flag="verbose",
        flag_shorthand="v",
        env="CODER_VERBOSE",
        yaml="verbose",
        group="Logging",
        annotations=dict(_PROXY),
        acted_on=True,
    ),
    Option(
        name="Human Log Location",
        key="logging.human",
        type="string",
        description="Output human-readable logs to a given file.",
        flag="log-human",
        env="CODER_LOGGING_HUMAN",
        yaml="humanPath",
        default="/dev/stderr",
        group="Logging",
        annotations=dict(_PROXY),
        acted_on=True,
    ),
    Option(
        name="JSON Log Location",
        key="logging.json",
        type="string",
        description="Output JSON logs to a given file.",
        flag="log-json",
        env="CODER_LOGGING_JSON",
        yaml="jsonPath",
        group="Logging",
        annotations=dict(_PROXY),
        acted_on=True,
    ),
    Option(
        name="Stackdriver Log Location",
        key="logging.stackdriver",
        type="string",
        description="Output Stackdriver compatible logs to a given file.",
        flag="log-stackdriver",
        env="CODER_LOGGING_STACKDRIVER",
        yaml="stackdriverPath",
        group="Logging",
        annotations=dict(_PROXY),
    ),
    # ☢️ Dangerous settings
    Option(
        name="DANGEROUS: Allow all CORs requests",
        key="dangerous.allow_all_cors",
        type="bool",
        description=(
            "For security reasons, CORs requests are blocked. If external requests are "
            "required, setting this to true will set all cors headers as '*'. This should never "
            "be used in production."
        ),
        flag="dangerous-allow-cors-requests",
        env="CODER_DANGEROUS_ALLOW_CORS_REQUESTS",
        group="⚠️ Dangerous",
        hidden=True,  # Hidden, should only be used by yarn dev server
        annotations=dict(_PROXY),
        acted_on=True,
    ),
    Option(
        name="DANGEROUS: Allow Path App Sharing",
        key="dangerous.allow_path_app_sharing",
        type="bool",
        description=(
            "Allow workspace apps that are not served from subdomains to be shared. Path-based "
            "app sharing is DISABLED by default for security purposes. Path-based apps can make "
            "requests to the Coder API and pose a security risk when the workspace serves "
            "malicious JavaScript. Path-based apps can be disabled entirely with "
            "--disable-path-apps for further security."
        ),
        flag="dangerous-allow-path-app-sharing",
        env="CODER_DANGEROUS_ALLOW_PATH_APP_SHARING",
        group="⚠️ Dangerous",
    ),
    Option(
        name="DANGEROUS: Allow Site Owners to Access Path Apps",
        key="dangerous.allow_path_app_site_owner_access",
        type="bool",
        description=(
            "Allow site-owners to access workspace apps from workspaces they do not own. Owners "
            "cannot access path-based apps they do not own by default. Path-based apps can make "
            "requests to the Coder API and pose a security risk when the workspace serves "
            "malicious JavaScript. Path-based apps can be disabled entirely with "
            "--disable-path-apps for further security."
        ),
        flag="dangerous-allow-path-app-site-owner-access",
        env="CODER_DANGEROUS_ALLOW_PATH_APP_SITE_OWNER_ACCESS",
        group="⚠️ Dangerous",
    ),
    # Misc. settings
    Option(
        name="Experiments",
        key="experiments",
        type="string-array",
        description=(
            "Enable one or more experiments. These are not ready for production. Separate "
            "multiple experiments with commas, or enter '*' to opt-in to all available "
            "experiments."
        ),
        flag="experiments",
        env="CODER_EXPERIMENTS",
        yaml="experiments",
        annotations=dict(_PROXY),
        acted_on=True,
    ),
    Option(
        name="Update Check",
        key="update_check",
        type="bool",
        description=(
            "Periodically check for new releases of Coder and inform the owner. The check is "
            "performed once per day."
        ),
        flag="update-check",
        env="CODER_UPDATE_CHECK",
        yaml="updateCheck",
        # strconv.FormatBool(flag.Lookup("test.v") == nil && !buildinfo.IsDev()): true in releases.
        default="true",
        acted_on=True,
    ),
    Option(
        name="Max Token Lifetime",
        key="max_token_lifetime",
        type="duration",
        description=("The maximum lifetime duration users can specify when creating an API token."),
        flag="max-token-lifetime",
        env="CODER_MAX_TOKEN_LIFETIME",
        yaml="maxTokenLifetime",
        # "Essentially forever": 100 years plus 25 leap days.
        default="876600h0m0s",
        group="HTTP",
        acted_on=True,
    ),
    Option(
        name="Enable swagger endpoint",
        key="swagger.enable",
        type="bool",
        description="Expose the swagger endpoint via /swagger.",
        flag="swagger-enable",
        env="CODER_SWAGGER_ENABLE",
        yaml="enableSwagger",
        default="true",  # pycoderd default (Coder: false)
        acted_on=True,
    ),
    Option(
        name="Proxy Trusted Headers",
        key="proxy_trusted_headers",
        type="string-array",
        description=(
            "Headers to trust for forwarding IP addresses. e.g. Cf-Connecting-Ip, "
            "True-Client-Ip, X-Forwarded-For."
        ),
        flag="proxy-trusted-headers",
        env="CODER_PROXY_TRUSTED_HEADERS",
        yaml="proxyTrustedHeaders",
        group="Networking",
        annotations=dict(_PROXY),
        acted_on=True,
    ),
    Option(
        name="Proxy Trusted Origins",
        key="proxy_trusted_origins",
        type="string-array",
        description='Origin addresses to respect "proxy-trusted-headers". e.g. 192.168.1.0/24.',
        flag="proxy-trusted-origins",
        env="CODER_PROXY_TRUSTED_ORIGINS",
        yaml="proxyTrustedOrigins",
        group="Networking",
        annotations=dict(_PROXY),
        acted_on=True,
    ),
    Option(
        name="Cache Directory",
        key="cache_directory",
        type="string",
        description=(
            "The directory to cache temporary files. If unspecified and $CACHE_DIRECTORY is "
            "set, it will be used for compatibility with systemd."
        ),
        flag="cache-dir",
        env="CODER_CACHE_DIRECTORY",
        yaml="cacheDir",
        # DefaultCacheDir(): os.UserCacheDir()/coder, or $CACHE_DIRECTORY/coder (as Coder's docs
        # render it).
        default="~/.cache/coder",
        acted_on=True,
    ),
    Option(
        name="In Memory Database",
        key="in_memory_database",
        type="bool",
        description="Controls whether data will be stored in an in-memory database.",
        flag="in-memory",
        env="CODER_IN_MEMORY",
        yaml="inMemoryDatabase",
        hidden=True,
    ),
    Option(
        name="Postgres Connection URL",
        key="pg_connection_url",
        type="string",
        description=(
            "URL of a PostgreSQL database. If empty, PostgreSQL binaries will be downloaded "
            "from Maven (https://repo1.maven.org/maven2) and store all data in the config root. "
            'Access the built-in database with "coder server postgres-builtin-url".'
        ),
        flag="postgres-url",
        env="CODER_PG_CONNECTION_URL",
        secret=True,
        annotations=dict(_SECRET),
        acted_on=True,
        help=(
            "URL of a PostgreSQL database (postgresql://user:password@host:5432/database). "
            "If empty, pycoderd uses its embedded SQLite database (--sqlite-path)."
        ),
    ),
    Option(
        name="Secure Auth Cookie",
        key="secure_auth_cookie",
        type="bool",
        description="Controls if the 'Secure' property is set on browser session cookies.",
        flag="secure-auth-cookie",
        env="CODER_SECURE_AUTH_COOKIE",
        yaml="secureAuthCookie",
        group="Networking",
        annotations=dict(_PROXY),
        acted_on=True,
    ),
    Option(
        name="Strict-Transport-Security",
        key="strict_transport_security",
        type="int",
        description=(
            "Controls if the 'Strict-Transport-Security' header is set on all static file "
            "responses. This header should only be set if the server is accessed via HTTPS. "
            "This value is the MaxAge in seconds of the header."
        ),
        flag="strict-transport-security",
        env="CODER_STRICT_TRANSPORT_SECURITY",
        yaml="strictTransportSecurity",
        default="0",
        group="TLS",
        annotations=dict(_PROXY),
        acted_on=True,
    ),
    Option(
        name="Strict-Transport-Security Options",
        key="strict_transport_security_options",
        type="string-array",
        description=(
            "Two optional fields can be set in the Strict-Transport-Security header; "
            "'includeSubDomains' and 'preload'. The 'strict-transport-security' flag must be "
            "set to a non-zero value for these options to be used."
        ),
        flag="strict-transport-security-options",
        env="CODER_STRICT_TRANSPORT_SECURITY_OPTIONS",
        yaml="strictTransportSecurityOptions",
        group="TLS",
        annotations=dict(_PROXY),
    ),
    Option(
        name="SSH Keygen Algorithm",
        key="ssh_keygen_algorithm",
        type="string",
        description=(
            'The algorithm to use for generating ssh keys. Accepted values are "ed25519", '
            '"ecdsa", or "rsa4096".'
        ),
        flag="ssh-keygen-algorithm",
        env="CODER_SSH_KEYGEN_ALGORITHM",
        yaml="sshKeygenAlgorithm",
        default="ed25519",
        acted_on=True,
    ),
    Option(
        name="Metrics Cache Refresh Interval",
        key="metrics_cache_refresh_interval",
        type="duration",
        description="How frequently metrics are refreshed.",
        flag="metrics-cache-refresh-interval",
        env="CODER_METRICS_CACHE_REFRESH_INTERVAL",
        default="1h0m0s",
        hidden=True,
    ),
    Option(
        name="Agent Stat Refresh Interval",
        key="agent_stat_refresh_interval",
        type="duration",
        description="How frequently agent stats are recorded.",
        flag="agent-stats-refresh-interval",
        env="CODER_AGENT_STATS_REFRESH_INTERVAL",
        default="30s",
        hidden=True,
        acted_on=True,
    ),
    Option(
        name="Agent Fallback Troubleshooting URL",
        key="agent_fallback_troubleshooting_url",
        type="url",
        description="URL to use for agent troubleshooting when not set in the template.",
        flag="agent-fallback-troubleshooting-url",
        env="CODER_AGENT_FALLBACK_TROUBLESHOOTING_URL",
        yaml="agentFallbackTroubleshootingURL",
        default="https://coder.com/docs/coder-oss/latest/templates#troubleshooting-templates",
        hidden=True,
    ),
    Option(
        name="Browser Only",
        key="browser_only",
        type="bool",
        description="Whether Coder only allows connections to workspaces via the browser.",
        flag="browser-only",
        env="CODER_BROWSER_ONLY",
        yaml="browserOnly",
        group="Networking",
        annotations=dict(_ENTERPRISE),
    ),
    Option(
        name="SCIM API Key",
        key="scim_api_key",
        type="string",
        description=(
            "Enables SCIM and sets the authentication header for the built-in SCIM server. New "
            "users are automatically created with OIDC authentication."
        ),
        flag="scim-auth-header",
        env="CODER_SCIM_AUTH_HEADER",
        secret=True,
        annotations=dict(_ENTERPRISE_SECRET),
    ),
    Option(
        name="Disable Path Apps",
        key="disable_path_apps",
        type="bool",
        description=(
            "Disable workspace apps that are not served from subdomains. Path-based apps can "
            "make requests to the Coder API and pose a security risk when the workspace serves "
            "malicious JavaScript. This is recommended for security purposes if a "
            "--wildcard-access-url is configured."
        ),
        flag="disable-path-apps",
        env="CODER_DISABLE_PATH_APPS",
        yaml="disablePathApps",
        annotations=dict(_PROXY),
    ),
    Option(
        name="Disable Owner Workspace Access",
        key="disable_owner_workspace_exec",
        type="bool",
        description=(
            "Remove the permission for the 'owner' role to have workspace execution on all "
            "workspaces. This prevents the 'owner' from ssh, apps, and terminal access based on "
            "the 'owner' role. They still have their user permissions to access their own "
            "workspaces."
        ),
        flag="disable-owner-workspace-access",
        env="CODER_DISABLE_OWNER_WORKSPACE_ACCESS",
        yaml="disableOwnerWorkspaceAccess",
        annotations=dict(_PROXY),
    ),
    Option(
        name="Session Duration",
        key="max_session_expiry",
        type="duration",
        description=(
            "The token expiry duration for browser sessions. Sessions may last longer if they "
            "are actively making requests, but this functionality can be disabled via "
            "--disable-session-expiry-refresh."
        ),
        flag="session-duration",
        env="CODER_SESSION_DURATION",
        yaml="sessionDuration",
        default="24h0m0s",
        group="HTTP",
        acted_on=True,
    ),
    Option(
        name="Disable Session Expiry Refresh",
        key="disable_session_expiry_refresh",
        type="bool",
        description=(
            "Disable automatic session expiry bumping due to activity. This forces all sessions "
            "to become invalid after the session expiry duration has been reached."
        ),
        flag="disable-session-expiry-refresh",
        env="CODER_DISABLE_SESSION_EXPIRY_REFRESH",
        yaml="disableSessionExpiryRefresh",
        group="HTTP",
        acted_on=True,
    ),
    Option(
        name="Disable Password Authentication",
        key="disable_password_auth",
        type="bool",
        description=(
            "Disable password authentication. This is recommended for security purposes in "
            "production deployments that rely on an identity provider. Any user with the owner "
            "role will be able to sign in with their password regardless of this setting to "
            "avoid potential lock out. If you are locked out of your account, you can use the "
            "`coder server create-admin` command to create a new admin user directly in the "
            "database."
        ),
        flag="disable-password-auth",
        env="CODER_DISABLE_PASSWORD_AUTH",
        yaml="disablePasswordAuth",
        group="HTTP",
        acted_on=True,
    ),
    Option(
        name="Config Path",
        key="config",
        # clibase.YAMLConfigPath: a file path.
        type="string",
        description="Specify a YAML file to load configuration from.",
        flag="config",
        flag_shorthand="c",
        env="CODER_CONFIG_PATH",
        group="Config",
        acted_on=True,
    ),
    Option(
        name="SSH Host Prefix",
        # SSHConfig has no json tags in Coder (the JSON field is "DeploymentName").
        key="config_ssh.DeploymentName",
        type="string",
        description="The SSH deployment prefix is used in the Host of the ssh config.",
        flag="ssh-hostname-prefix",
        env="CODER_SSH_HOSTNAME_PREFIX",
        yaml="sshHostnamePrefix",
        default="coder.",
        group="Client",
        acted_on=True,
    ),
    Option(
        name="SSH Config Options",
        # SSHConfig has no json tags in Coder (the JSON field is "SSHConfigOptions").
        key="config_ssh.SSHConfigOptions",
        type="string-array",
        description=(
            "These SSH config options will override the default SSH config options. Provide "
            'options in "key=value" or "key value" format separated by commas.Using this '
            "incorrectly can break SSH to your deployment, use cautiously."
        ),
        flag="ssh-config-options",
        env="CODER_SSH_CONFIG_OPTIONS",
        yaml="sshConfigOptions",
        group="Client",
        acted_on=True,
    ),
    Option(
        name="Write Config",
        key="write_config",
        type="bool",
        description="\nWrite out the current server config as YAML to stdout.",
        flag="write-config",
        group="Config",
        annotations=dict(_PROXY),
    ),
    Option(
        name="Support Links",
        key="support.links",
        type="struct",
        description="Support links to display in the top right drop down menu.",
        yaml="supportLinks",
        # The support links are hidden until they are defined in the YAML.
        hidden=True,
    ),
    Option(
        # Env handling is done in cli.ReadGitAuthFromEnvironment (CODER_GITAUTH_<n>_<KEY>).
        name="Git Auth Providers",
        key="git_auth",
        type="struct",
        description="Git Authentication providers.",
        hidden=True,
    ),
    Option(
        name="Custom wgtunnel Host",
        key="wgtunnel_host",
        type="string",
        description=(
            "Hostname of HTTPS server that runs https://github.com/coder/wgtunnel. By default, "
            "this will pick the best available wgtunnel server hosted by Coder. e.g. "
            '"tunnel.example.com".'
        ),
        flag="wg-tunnel-host",
        env="WGTUNNEL_HOST",
        yaml="wgtunnelHost",
        default="",  # empty string means pick best server
        hidden=True,
    ),
    # --- pycoderd's own options -----------------------------------------------------------
    Option(
        name="SQLite Path",
        key="pycoderd.sqlite_path",
        type="string",
        description=(
            "Path of the SQLite database file used when no Postgres connection URL is set. "
            "Empty means <instance>/pycoderd.sqlite3."
        ),
        flag="sqlite-path",
        env="CODER_SQLITE_PATH",
        yaml="sqlitePath",
        default="",
        group="pycoderd",
        acted_on=True,
    ),
    Option(
        name="Secret Key",
        key="pycoderd.secret_key",
        type="string",
        description=(
            "Key used to sign pycoderd's cookies and tokens. Empty means a random key kept in "
            "the instance directory."
        ),
        flag="secret-key",
        env="CODER_SECRET_KEY",
        yaml="secretKey",
        group="pycoderd",
        secret=True,
        annotations=dict(_SECRET),
        acted_on=True,
    ),
    Option(
        name="Docker Host",
        key="pycoderd.docker_host",
        type="string",
        description=(
            "Docker daemon to run workspaces on, e.g. unix:///var/run/docker.sock or "
            "tcp://host:2375. Empty means the environment's default (DOCKER_HOST)."
        ),
        flag="docker-host",
        env="CODER_DOCKER_HOST",
        yaml="dockerHost",
        group="pycoderd",
        acted_on=True,
    ),
    Option(
        name="Workspace Network",
        key="pycoderd.workspace_network",
        type="string",
        description='Docker network mode for workspace containers: "bridge" or "host".',
        flag="workspace-network",
        env="CODER_WORKSPACE_NETWORK",
        yaml="workspaceNetwork",
        default="bridge",
        group="pycoderd",
        acted_on=True,
    ),
    Option(
        name="Insecure Registries",
        key="pycoderd.registry_insecure",
        type="string-array",
        description=(
            "Image registries (host[:port]) that may be reached over plain HTTP or with "
            "unverified TLS. Separate multiple registries with commas."
        ),
        flag="registry-insecure",
        env="CODER_REGISTRY_INSECURE",
        yaml="registryInsecure",
        group="pycoderd",
        acted_on=True,
    ),
    Option(
        name="Allowed Registries",
        key="pycoderd.registry_allowed",
        type="string-array",
        description=(
            "The only image registries (host, or host:port) pycoderd may contact, token "
            "services and redirects included; any other host is refused before its name is "
            "looked up. Empty allows every registry. Separate multiple registries with commas."
        ),
        flag="registry-allowed",
        env="CODER_REGISTRY_ALLOWED",
        yaml="registryAllowed",
        group="pycoderd",
        acted_on=True,
    ),
    Option(
        name="Allowed Resource Pool Hosts",
        key="pycoderd.resource_pool_allowed_hosts",
        type="string-array",
        description=(
            "The only container engine hosts (host, or host:port) a resource pool's "
            "cluster_address may name, checked before the name is looked up; listed hosts may "
            "be private. Empty allows hosts that resolve to public addresses only. A unix "
            "socket (unix:///path) is allowed only when listed exactly. Separate entries with "
            "commas."
        ),
        flag="resource-pool-allowed-hosts",
        env="CODER_RESOURCE_POOL_ALLOWED_HOSTS",
        yaml="resourcePoolAllowedHosts",
        group="pycoderd",
        acted_on=True,
    ),
    Option(
        name="Resource Pool Health Interval",
        key="pycoderd.resource_pool_health_interval",
        type="duration",
        description=(
            "How often the background process checks that each resource pool's engine "
            "answers (ready or unreachable)."
        ),
        flag="resource-pool-health-interval",
        env="CODER_RESOURCE_POOL_HEALTH_INTERVAL",
        yaml="resourcePoolHealthInterval",
        default="15s",
        group="pycoderd",
        acted_on=True,
    ),
    Option(
        name="Auto Migrate",
        key="pycoderd.auto_migrate",
        type="bool",
        description="Apply pending database migrations when the server starts.",
        flag="auto-migrate",
        env="CODER_AUTO_MIGRATE",
        yaml="autoMigrate",
        default="true",
        group="pycoderd",
        acted_on=True,
    ),
    Option(
        name="Update Check URL",
        key="pycoderd.update_check_url",
        type="url",
        description="URL of the latest Coder release, queried by the update check.",
        flag="update-check-url",
        env="CODER_UPDATE_CHECK_URL",
        yaml="updateCheckURL",
        default="https://api.github.com/repos/coder/coder/releases/latest",
        group="pycoderd",
        acted_on=True,
    ),
    Option(
        name="Classic API Version",
        key="pycoderd.classic_api_version",
        type="string",
        description=(
            "The classic Coder release whose API v0 pycoderd follows, reported in the "
            "coder-version header of GET /api. The classic CLI warns on every command when its "
            "major.minor differs from this. pycoderd's own version stays in "
            "X-Coder-Build-Version and /api/v2/buildinfo."
        ),
        flag="classic-api-version",
        env="CODER_CLASSIC_API_VERSION",
        yaml="classicAPIVersion",
        default="1.20.0",
        group="pycoderd",
        acted_on=True,
    ),
    Option(
        name="Rate Limit Storage URL",
        key="pycoderd.rate_limit_storage_url",
        type="string",
        description=(
            "Where rate limit counters are kept, e.g. memory:// (per process) or "
            "redis://host:6379 (shared by all workers)."
        ),
        flag="rate-limit-storage-url",
        env="CODER_RATE_LIMIT_STORAGE_URL",
        yaml="rateLimitStorageURL",
        default="memory://",
        group="pycoderd",
        secret=True,  # a redis:// URL may carry a password
        acted_on=True,
    ),
    Option(
        name="Max Request Body Bytes",
        key="pycoderd.max_request_body_bytes",
        type="int",
        description="Largest request body accepted, in bytes; larger requests get 413.",
        flag="max-request-body-bytes",
        env="CODER_MAX_REQUEST_BODY_BYTES",
        yaml="maxRequestBodyBytes",
        default="10485760",
        group="pycoderd",
        acted_on=True,
    ),
    Option(
        name="Gunicorn Workers",
        key="pycoderd.workers",
        type="int",
        description="Number of gunicorn worker processes serving the API.",
        flag="gunicorn-workers",
        env="CODER_GUNICORN_WORKERS",
        yaml="gunicornWorkers",
        default="2",
        group="pycoderd",
        acted_on=True,
    ),
    Option(
        name="Dev URL Proxy Timeout",
        key="pycoderd.devurl_proxy_timeout",
        type="duration",
        description=(
            "How long the dev URL proxy waits for a workspace to accept a connection or to "
            "send data before answering 504."
        ),
        flag="devurl-proxy-timeout",
        env="CODER_DEVURL_PROXY_TIMEOUT",
        yaml="devurlProxyTimeout",
        default="30s",
        group="pycoderd",
        acted_on=True,
    ),
    Option(
        name="Dev URL WebSocket Idle Timeout",
        key="pycoderd.devurl_websocket_idle_timeout",
        type="duration",
        description=(
            "A WebSocket relayed by the dev URL proxy that carries no data either way for this "
            "long is closed. 0 keeps idle WebSockets open."
        ),
        flag="devurl-websocket-idle-timeout",
        env="CODER_DEVURL_WEBSOCKET_IDLE_TIMEOUT",
        yaml="devurlWebsocketIdleTimeout",
        default="10m",
        group="pycoderd",
        acted_on=True,
    ),
    Option(
        name="Dev URL WebSocket Limit",
        key="pycoderd.devurl_websocket_limit",
        type="int",
        description=(
            "Most WebSockets one server worker relays at once; each holds one of the worker's "
            "8 threads while it is open. Further WebSocket requests are answered 503."
        ),
        flag="devurl-websocket-limit",
        env="CODER_DEVURL_WEBSOCKET_LIMIT",
        yaml="devurlWebsocketLimit",
        default="4",
        group="pycoderd",
        acted_on=True,
    ),
    Option(
        name="SSH Address",
        key="pycoderd.ssh_address",
        type="host:port",
        description=(
            "Address of the SSH gateway, e.g. 0.0.0.0:22: log in as <username>-<workspace> with "
            "your SSH key to get a shell, run commands or forward ports in that workspace. "
            "Empty turns the gateway off."
        ),
        flag="ssh-address",
        env="CODER_SSH_ADDRESS",
        yaml="sshAddress",
        default="",
        group="pycoderd",
        acted_on=True,
    ),
    Option(
        name="WebSocket Limit",
        key="pycoderd.websocket_limit",
        type="int",
        description=(
            "Most of pycoderd's own WebSockets (command execution, build watching) one server "
            "worker serves at once; each holds a thread of its own while it is open. Further "
            "ones are answered 503."
        ),
        flag="websocket-limit",
        env="CODER_WEBSOCKET_LIMIT",
        yaml="websocketLimit",
        default="4",
        group="pycoderd",
        acted_on=True,
    ),
    Option(
        name="WebSocket Idle Timeout",
        key="pycoderd.websocket_idle_timeout",
        type="duration",
        description=(
            "A command execution WebSocket that carries no data either way for this long is "
            "closed and its command ended. 0 keeps idle sessions open."
        ),
        flag="websocket-idle-timeout",
        env="CODER_WEBSOCKET_IDLE_TIMEOUT",
        yaml="websocketIdleTimeout",
        default="1h",
        group="pycoderd",
        acted_on=True,
    ),
)
