"""OPC UA code tables (Part 4 services, Part 6 mappings). Unknown codes read ``unknown-N``.

Service ids are the numeric NodeIds (namespace 0) of each request/response's DefaultBinary encoding, from the
OPC Foundation's ``Schema/NodeIds.csv``; a message body starts with one of them.
"""

from __future__ import annotations

# Message types of the UA Connection Protocol (UACP) and UA Secure Conversation (UASC) headers.
HELLO, ACKNOWLEDGE, ERROR, REVERSE_HELLO = "HEL", "ACK", "ERR", "RHE"
OPEN, MESSAGE, CLOSE = "OPN", "MSG", "CLO"
CONNECTION_TYPES = frozenset({HELLO, ACKNOWLEDGE, ERROR, REVERSE_HELLO})
SECURE_TYPES = frozenset({OPEN, MESSAGE, CLOSE})
MESSAGE_TYPES = CONNECTION_TYPES | SECURE_TYPES
CHUNK_TYPES = frozenset({"F", "C", "A"})

SERVICES: dict[int, str] = {
    397: "ServiceFault",
    422: "FindServersRequest", 425: "FindServersResponse",
    428: "GetEndpointsRequest", 431: "GetEndpointsResponse",
    437: "RegisterServerRequest", 440: "RegisterServerResponse",
    446: "OpenSecureChannelRequest", 449: "OpenSecureChannelResponse",
    452: "CloseSecureChannelRequest", 455: "CloseSecureChannelResponse",
    461: "CreateSessionRequest", 464: "CreateSessionResponse",
    467: "ActivateSessionRequest", 470: "ActivateSessionResponse",
    473: "CloseSessionRequest", 476: "CloseSessionResponse",
    479: "CancelRequest", 482: "CancelResponse",
    488: "AddNodesRequest", 491: "AddNodesResponse",
    494: "AddReferencesRequest", 497: "AddReferencesResponse",
    500: "DeleteNodesRequest", 503: "DeleteNodesResponse",
    506: "DeleteReferencesRequest", 509: "DeleteReferencesResponse",
    527: "BrowseRequest", 530: "BrowseResponse",
    533: "BrowseNextRequest", 536: "BrowseNextResponse",
    554: "TranslateBrowsePathsToNodeIdsRequest", 557: "TranslateBrowsePathsToNodeIdsResponse",
    560: "RegisterNodesRequest", 563: "RegisterNodesResponse",
    566: "UnregisterNodesRequest", 569: "UnregisterNodesResponse",
    615: "QueryFirstRequest", 618: "QueryFirstResponse",
    621: "QueryNextRequest", 624: "QueryNextResponse",
    631: "ReadRequest", 634: "ReadResponse",
    664: "HistoryReadRequest", 667: "HistoryReadResponse",
    673: "WriteRequest", 676: "WriteResponse",
    700: "HistoryUpdateRequest", 703: "HistoryUpdateResponse",
    712: "CallRequest", 715: "CallResponse",
    751: "CreateMonitoredItemsRequest", 754: "CreateMonitoredItemsResponse",
    763: "ModifyMonitoredItemsRequest", 766: "ModifyMonitoredItemsResponse",
    769: "SetMonitoringModeRequest", 772: "SetMonitoringModeResponse",
    775: "SetTriggeringRequest", 778: "SetTriggeringResponse",
    781: "DeleteMonitoredItemsRequest", 784: "DeleteMonitoredItemsResponse",
    787: "CreateSubscriptionRequest", 790: "CreateSubscriptionResponse",
    793: "ModifySubscriptionRequest", 796: "ModifySubscriptionResponse",
    799: "SetPublishingModeRequest", 802: "SetPublishingModeResponse",
    826: "PublishRequest", 829: "PublishResponse",
    832: "RepublishRequest", 835: "RepublishResponse",
    841: "TransferSubscriptionsRequest", 844: "TransferSubscriptionsResponse",
    847: "DeleteSubscriptionsRequest", 850: "DeleteSubscriptionsResponse",
    12208: "FindServersOnNetworkRequest", 12209: "FindServersOnNetworkResponse",
    12211: "RegisterServer2Request", 12212: "RegisterServer2Response",
}

SERVICE_FAULT = 397
OPEN_SECURE_CHANNEL_REQUEST, OPEN_SECURE_CHANNEL_RESPONSE = 446, 449
FIND_SERVERS_REQUEST, FIND_SERVERS_RESPONSE = 422, 425
GET_ENDPOINTS_REQUEST, GET_ENDPOINTS_RESPONSE = 428, 431
CREATE_SESSION_REQUEST, CREATE_SESSION_RESPONSE = 461, 464
ACTIVATE_SESSION_REQUEST = 467

# Services that change the address space or the process: what detection cares most about.
WRITE_SERVICES = frozenset({673, 700, 712, 488, 494, 500, 506})

# MessageSecurityMode (Part 4, 7.20).
SECURITY_MODES: dict[int, str] = {0: "Invalid", 1: "None", 2: "Sign", 3: "SignAndEncrypt"}
# ApplicationType (Part 4, 7.2).
APPLICATION_TYPES: dict[int, str] = {0: "Server", 1: "Client", 2: "ClientAndServer", 3: "DiscoveryServer"}
# UserTokenType (Part 4, 7.41), as offered in endpoint descriptions.
USER_TOKEN_TYPES: dict[int, str] = {0: "Anonymous", 1: "UserName", 2: "Certificate", 3: "IssuedToken"}
# SecurityTokenRequestType of OpenSecureChannel.
TOKEN_REQUEST_TYPES: dict[int, str] = {0: "Issue", 1: "Renew"}
# The user identity token a client presents in ActivateSession: the ExtensionObject's encoding id.
IDENTITY_TOKENS: dict[int, str] = {321: "Anonymous", 324: "UserName", 327: "Certificate", 940: "IssuedToken"}
USERNAME_IDENTITY_TOKEN = 324

SECURITY_POLICY_PREFIX = "http://opcfoundation.org/UA/SecurityPolicy#"
SECURITY_POLICY_NONE = SECURITY_POLICY_PREFIX + "None"


def service_name(type_id: int | None) -> str | None:
    if type_id is None:
        return None
    return SERVICES.get(type_id, f"unknown-{type_id}")


def security_mode_name(mode: int) -> str:
    return SECURITY_MODES.get(mode, f"unknown-{mode}")


def application_type_name(kind: int) -> str:
    return APPLICATION_TYPES.get(kind, f"unknown-{kind}")


def user_token_type_name(kind: int) -> str:
    return USER_TOKEN_TYPES.get(kind, f"unknown-{kind}")


def token_request_type_name(kind: int) -> str:
    return TOKEN_REQUEST_TYPES.get(kind, f"unknown-{kind}")


def identity_token_name(type_id: int) -> str:
    return IDENTITY_TOKENS.get(type_id, f"unknown-{type_id}")
