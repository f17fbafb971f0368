"""OPC UA service bodies (Part 4 services in the Part 6 binary encoding). Pure.

A plaintext message body starts with the NodeId of its encoding (which names the service), then the
request or response header. Past the headers only what identifies the peers and the channel's security
is decoded: OpenSecureChannel, GetEndpoints, FindServers, CreateSession and ActivateSession. A body that
breaks off after its type id keeps what was decoded and says why in ``problem``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from zonewarden.errors import Malformed
from zonewarden.protocols.opcua.codes import (
    ACTIVATE_SESSION_REQUEST,
    CREATE_SESSION_REQUEST,
    CREATE_SESSION_RESPONSE,
    FIND_SERVERS_REQUEST,
    FIND_SERVERS_RESPONSE,
    GET_ENDPOINTS_REQUEST,
    GET_ENDPOINTS_RESPONSE,
    OPEN_SECURE_CHANNEL_REQUEST,
    OPEN_SECURE_CHANNEL_RESPONSE,
    SERVICES,
    USERNAME_IDENTITY_TOKEN,
)
from zonewarden.protocols.opcua.wire_types import MAX_ARRAY, NodeId, Reader

# Endpoint descriptions kept per message: a server offers one per security policy and mode, rarely > 10.
MAX_ENDPOINTS = 64


@dataclass(frozen=True, slots=True)
class Application:
    """An ApplicationDescription: who a client or server says it is."""

    uri: str | None
    product_uri: str | None
    name: str | None
    kind: int


@dataclass(frozen=True, slots=True)
class Endpoint:
    """An EndpointDescription a server offers."""

    url: str | None
    server: Application
    certificate: bytes | None
    security_mode: int
    security_policy: str | None
    user_token_types: tuple[int, ...]
    security_level: int


@dataclass(slots=True)
class ServiceBody:
    """What one message body says; fields its service does not carry stay None."""

    type_id: NodeId
    request_handle: int | None = None
    status_code: int | None = None  # a response's ServiceResult
    security_mode: int | None = None
    request_type: int | None = None
    lifetime: int | None = None  # OPN: requested (request) or revised (response) token lifetime, ms
    channel_id: int | None = None
    token_id: int | None = None
    endpoint_url: str | None = None
    session_name: str | None = None
    application: Application | None = None
    endpoints: list[Endpoint] = field(default_factory=list)
    client_certificate: bytes | None = None
    server_certificate: bytes | None = None
    identity_token: int | None = None
    username: str | None = None
    problem: str | None = None


def parse_body(body: bytes) -> ServiceBody:
    """A plaintext message body (after the sequence header). Malformed only when the type id is unreadable."""
    r = Reader(body)
    out = ServiceBody(r.expanded_nodeid())
    service = out.type_id.numeric
    try:
        if service is not None and service in _RESPONSES:
            _response_header(r, out)
            _RESPONSES[service](r, out)
        elif service is not None and service in _REQUESTS:
            _request_header(r, out)
            _REQUESTS[service](r, out)
        elif SERVICES.get(service or -1, "").endswith(("Response", "Fault")):
            _response_header(r, out)  # the status of every other response (Read, Write, ServiceFault...)
        elif SERVICES.get(service or -1, "").endswith("Request"):
            _request_header(r, out)
    except Malformed as exc:
        out.problem = str(exc)
    return out


def _request_header(r: Reader, out: ServiceBody) -> None:
    r.nodeid()  # authentication token
    r.i64()  # timestamp
    out.request_handle = r.u32()
    r.u32()  # return diagnostics
    r.string("AuditEntryId")
    r.u32()  # timeout hint
    r.extension_object()


def _response_header(r: Reader, out: ServiceBody) -> None:
    r.i64()  # timestamp
    out.request_handle = r.u32()
    out.status_code = r.u32()
    r.diagnostic_info()
    r.string_array("StringTable")
    r.extension_object()


def _application(r: Reader) -> Application:
    uri = r.string("ApplicationUri")
    product = r.string("ProductUri")
    name = r.localized_text()
    kind = r.u32()
    r.string("GatewayServerUri")
    r.string("DiscoveryProfileUri")
    r.string_array("DiscoveryUrls")
    return Application(uri, product, name, kind)


def _endpoint(r: Reader) -> Endpoint:
    url = r.string("EndpointUrl")
    server = _application(r)
    certificate = r.bytestring("ServerCertificate")
    mode = r.u32()
    policy = r.string("SecurityPolicyUri")
    tokens: list[int] = []
    for _ in range(r.array_length("UserIdentityTokens", 20)):
        r.string("PolicyId")
        tokens.append(r.u32())
        r.string("IssuedTokenType")
        r.string("IssuerEndpointUrl")
        r.string("SecurityPolicyUri")
    r.string("TransportProfileUri")
    level = r.u8()
    return Endpoint(url, server, certificate, mode, policy, tuple(tokens[:MAX_ARRAY]), level)


def _endpoints(r: Reader, out: ServiceBody) -> None:
    for _ in range(r.array_length("Endpoints", 40)):
        endpoint = _endpoint(r)
        if len(out.endpoints) < MAX_ENDPOINTS:
            out.endpoints.append(endpoint)


def _open_request(r: Reader, out: ServiceBody) -> None:
    r.u32()  # client protocol version
    out.request_type = r.u32()
    out.security_mode = r.u32()
    r.bytestring("ClientNonce")
    out.lifetime = r.u32()


def _open_response(r: Reader, out: ServiceBody) -> None:
    r.u32()  # server protocol version
    out.channel_id = r.u32()
    out.token_id = r.u32()
    r.i64()  # created at
    out.lifetime = r.u32()


def _endpoint_url_request(r: Reader, out: ServiceBody) -> None:
    """GetEndpoints and FindServers requests: the URL the client used to reach the server."""
    out.endpoint_url = r.string("EndpointUrl")


def _get_endpoints_response(r: Reader, out: ServiceBody) -> None:
    _endpoints(r, out)
    if out.endpoints:
        out.application = out.endpoints[0].server
        out.server_certificate = next((e.certificate for e in out.endpoints if e.certificate), None)


def _find_servers_response(r: Reader, out: ServiceBody) -> None:
    # A discovery server lists other servers too: only a single-entry answer says who the sender is.
    count = r.array_length("Servers", 30)
    servers = [_application(r) for _ in range(min(count, 2))]
    if len(servers) == 1:
        out.application = servers[0]


def _create_session_request(r: Reader, out: ServiceBody) -> None:
    out.application = _application(r)
    r.string("ServerUri")
    out.endpoint_url = r.string("EndpointUrl")
    out.session_name = r.string("SessionName")
    r.bytestring("ClientNonce")
    out.client_certificate = r.bytestring("ClientCertificate")


def _create_session_response(r: Reader, out: ServiceBody) -> None:
    r.nodeid()  # session id
    r.nodeid()  # authentication token
    r.f64()  # revised session timeout
    r.bytestring("ServerNonce")
    out.server_certificate = r.bytestring("ServerCertificate")
    _endpoints(r, out)
    if out.endpoints:
        out.application = out.endpoints[0].server
    if not out.server_certificate:
        out.server_certificate = next((e.certificate for e in out.endpoints if e.certificate), None)


def _activate_session_request(r: Reader, out: ServiceBody) -> None:
    r.string("ClientSignature.Algorithm")
    r.bytestring("ClientSignature.Signature")
    for _ in range(r.array_length("ClientSoftwareCertificates", 8)):
        r.bytestring("CertificateData")
        r.bytestring("Signature")
    r.string_array("LocaleIds")
    type_id, token = r.extension_object()
    out.identity_token = type_id.numeric
    if out.identity_token == USERNAME_IDENTITY_TOKEN and token is not None:
        t = Reader(token)
        t.string("PolicyId")
        out.username = t.string("UserName")  # the password that follows is never read


_REQUESTS = {
    OPEN_SECURE_CHANNEL_REQUEST: _open_request,
    GET_ENDPOINTS_REQUEST: _endpoint_url_request,
    FIND_SERVERS_REQUEST: _endpoint_url_request,
    CREATE_SESSION_REQUEST: _create_session_request,
    ACTIVATE_SESSION_REQUEST: _activate_session_request,
}
_RESPONSES = {
    OPEN_SECURE_CHANNEL_RESPONSE: _open_response,
    GET_ENDPOINTS_RESPONSE: _get_endpoints_response,
    FIND_SERVERS_RESPONSE: _find_servers_response,
    CREATE_SESSION_RESPONSE: _create_session_response,
}
