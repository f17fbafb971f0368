"""The event the OPC UA Binary analyzer emits (one per chunk)."""

from __future__ import annotations

from zonewarden.model.events import Event


class OpcuaEvent(Event, kw_only=True):
    """One OPC UA Binary chunk (HEL, ACK, ERR, RHE, OPN, MSG or CLO); the final chunk of a message carries the
    decoded service. Application identity fields describe the sender (a server's endpoints, a client's
    CreateSession description)."""

    proto: str = "opcua"
    msg_type: str
    """``HEL``, ``ACK``, ``ERR``, ``RHE`` (reverse hello), ``OPN``, ``MSG`` or ``CLO``."""
    chunk_type: str
    """``F`` final chunk, ``C`` intermediate chunk, ``A`` abort (the message is discarded)."""
    message_size: int
    """The chunk's size from its header (bytes, header included)."""
    secure_channel_id: int | None = None
    """Secure channel id (OPN, MSG, CLO); 0 in the OpenSecureChannel request that asks for a new channel."""
    security_policy: str | None = None
    """Security policy URI: from the OPN asymmetric header, and on MSG/CLO the policy of their channel's OPN
    (null when that OPN was not seen)."""
    security_mode: str | None = None
    """``None``, ``Sign`` or ``SignAndEncrypt``: requested in a plaintext OpenSecureChannel request and
    repeated on later chunks of the channel; ``None`` is implied by the None policy, ``Sign`` by readable
    bodies on a channel with another policy."""
    signed: bool | None = None
    """The chunk is signed (policy other than None); null when unknown."""
    encrypted: bool | None = None
    """The chunk's sequence header and body are encrypted (not decoded); null when unknown."""
    token_id: int | None = None
    """Security token id (MSG/CLO symmetric header, OpenSecureChannel response)."""
    sequence_number: int | None = None
    """Sequence number of the chunk (plaintext chunks only)."""
    request_id: int | None = None
    """Request id shared by a request and its response (plaintext chunks only)."""
    service_type_id: int | None = None
    """Numeric NodeId (namespace 0) of the message body's encoding, e.g. 631 ReadRequest, 634 ReadResponse."""
    service: str | None = None
    """The encoding's name, e.g. ``ReadRequest``, ``ServiceFault`` (``unknown-N`` for unlisted ids)."""
    service_node_id: str | None = None
    """The body's type NodeId when it is not a namespace-0 numeric id (``ns=2;s=...``)."""
    status_code: int | None = None
    """ERR or abort error code, or a response's ServiceResult (0 is Good)."""
    status: str | None = None
    """The StatusCode's name, e.g. ``BadSecureChannelIdInvalid``."""
    reason: str | None = None
    """ERR or abort reason text."""
    request_frame: int | None = None
    """For responses: the frame of the request with the same request id."""
    protocol_version: int | None = None
    """HEL/ACK protocol version."""
    receive_buffer_size: int | None = None
    """HEL/ACK receive buffer size (the largest chunk the sender accepts)."""
    send_buffer_size: int | None = None
    """HEL/ACK send buffer size."""
    max_message_size: int | None = None
    """HEL/ACK largest message (0: no limit)."""
    max_chunk_count: int | None = None
    """HEL/ACK most chunks per message (0: no limit)."""
    endpoint_url: str | None = None
    """Endpoint URL: of HEL/RHE, of GetEndpoints and CreateSession requests, of the first endpoint a server
    describes."""
    server_uri: str | None = None
    """RHE server URI."""
    request_type: str | None = None
    """OpenSecureChannel request: ``Issue`` (new token) or ``Renew``."""
    lifetime: int | None = None
    """OpenSecureChannel: requested (request) or revised (response) token lifetime in milliseconds."""
    sender_certificate_length: int | None = None
    """OPN: length of the sender certificate (null when absent or empty)."""
    sender_certificate_thumbprint: str | None = None
    """OPN: SHA-1 thumbprint (hex) of the sender certificate."""
    receiver_thumbprint: str | None = None
    """OPN: the receiver certificate thumbprint the sender encrypted for (hex)."""
    client_certificate_length: int | None = None
    """CreateSession request: length of the client certificate (null when absent or empty)."""
    server_certificate_length: int | None = None
    """CreateSession/GetEndpoints response: length of the (first non-empty) server certificate."""
    server_certificate_thumbprint: str | None = None
    """CreateSession/GetEndpoints response: SHA-1 thumbprint (hex) of the server certificate."""
    application_uri: str | None = None
    """Sender's ApplicationUri (GetEndpoints/CreateSession responses: the server; CreateSession request:
    the client; FindServers response listing one server)."""
    product_uri: str | None = None
    """Sender's ProductUri (names the vendor's product, e.g. ``http://open62541.org``)."""
    application_name: str | None = None
    """Sender's ApplicationName text."""
    application_type: str | None = None
    """``Server``, ``Client``, ``ClientAndServer`` or ``DiscoveryServer``."""
    session_name: str | None = None
    """CreateSession request: the session name the client chose."""
    endpoint_security_modes: list[str] | None = None
    """GetEndpoints/CreateSession response: security mode of each endpoint offered (aligned with
    ``endpoint_security_policies``)."""
    endpoint_security_policies: list[str] | None = None
    """GetEndpoints/CreateSession response: security policy URI of each endpoint offered."""
    user_token_types: list[str] | None = None
    """GetEndpoints/CreateSession response: user identity token types offered (``Anonymous``, ``UserName``,
    ``Certificate``, ``IssuedToken``), without repeats."""
    identity_token: str | None = None
    """ActivateSession request: the user identity token type the client presents."""
    username: str | None = None
    """ActivateSession request with a UserName token: the user name (the password is never read)."""
