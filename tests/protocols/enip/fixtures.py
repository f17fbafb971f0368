"""EtherNet/IP and CIP byte fixtures, annotated field by field (little-endian unless noted).

Most are real messages from the corpus (enip-cip/...); the rest are built to the specification for
cases the corpus lacks (Large Forward Open, 16/32-bit logical segments, extended port segments).
"""

# ---- encapsulation
LIST_IDENTITY_REQUEST = bytes.fromhex(
    "6300"  # command 0x63 ListIdentity
    "0000"  # length 0: a request
    "00000000"  # session handle
    "00000000"  # status
    "0000c1debed10000"  # sender context
    "00000000"  # options
)
LIST_IDENTITY_REPLY = bytes.fromhex(  # suricata-verify enip_test1.pcap frame 6
    "6300" "3300" "00000000" "00000000" "00000000c1debed1" "00000000"  # header, length 51
    "0100"  # item count 1
    "0c00" "2d00"  # item type 0x0C CIP Identity, length 45
    "0100"  # encapsulation protocol version 1
    "0002" "af12" "0a0101a4" "0000000000000000"  # sockaddr (big-endian): family 2, port 44818, 10.1.1.164
    "0100"  # vendor 1 (Rockwell)
    "0c00"  # device type 12 (communications adapter)
    "3a00"  # product code 58
    "04" "03"  # revision 4.3
    "3000"  # status 0x0030
    "8e4d5200"  # serial number 0x00524d8e
    "0b" "313735362d454e42542f41"  # product name "1756-ENBT/A"
    "03"  # state 3
)
REGISTER_SESSION_REPLY = bytes.fromhex(  # ENIP_CIP-CM.pcap frame 9
    "6500" "0400" "01000000" "00000000" "0000000000000000" "00000000"  # session 1 granted
    "0100"  # protocol version 1
    "0000"  # option flags
)
LIST_SERVICES_REPLY = bytes.fromhex(  # ENIP_CIP-CM.pcap frame 7
    "0400" "1a00" "00000000" "00000000" "0000000000000000" "00000000"
    "0100"  # item count
    "0001" "1400"  # type 0x100 ListServices, length 20
    "0100"  # version
    "2001"  # capability flags 0x120: TCP encapsulation, class 0/1 UDP
    "436f6d6d756e69636174696f6e730000"  # "Communications", NUL padded to 16
)
UNKNOWN_COMMAND_0001 = bytes.fromhex(  # RSLinx's first, undocumented, probe (EIP-FirmwareChange frame 10672)
    "0100" "0000" "00000000" "00000000" "0000000000000000" "00000000"
)
TRUNCATED_CPF_ITEM = bytes.fromhex(
    "6f00" "1000" "00000000" "00000000" "0000000000000000" "00000000"  # SendRRData, 16 bytes of data
    "00000000" "0000"  # interface handle, timeout
    "0200"  # 2 items
    "0000" "0000"  # null address
    "b200" "0900"  # unconnected data declaring 9 bytes ...
    "0000"  # ... of which 2 are present
)

# ---- SendRRData (unconnected) carrying CIP
FORWARD_OPEN_REQUEST = bytes.fromhex(  # ENIP_CIP-CM.pcap frame 10
    "6f00" "4c00" "01000000" "00000000" "c0a8641c00004857" "00000000"  # SendRRData, length 76, session 1
    "00000000" "0000"  # interface handle, timeout
    "0200" "0000" "0000" "b200" "3c00"  # 2 items: null address; unconnected data, 60 bytes
    "54"  # service Forward Open
    "02" "2006" "2401"  # path 2 words: class 6 (Connection Manager), instance 1
    "05" "9b"  # priority/tick time, time-out ticks
    "00000000"  # O->T connection id (the target chooses)
    "00000000"  # T->O connection id
    "0e00"  # connection serial 14
    "0100"  # originator vendor 1
    "22f51300"  # originator serial 0x0013f522
    "02" "000000"  # timeout multiplier, reserved
    "10270000" "1a48"  # O->T RPI 10000 µs, network parameters
    "10270000" "1a28"  # T->O RPI 10000 µs, network parameters
    "01"  # transport type/trigger: class 1
    "09"  # connection path: 9 words
    "34" "04" "0000" "0000" "0000" "00" "00"  # electronic key (format 4, all zero: match any)
    "2004" "2406" "2c02" "2c01"  # assembly class 4, instance 6, connection points 2 and 1
)
FORWARD_OPEN_REPLY = bytes.fromhex(  # ENIP_CIP-CM.pcap frame 11
    "6f00" "5600" "01000000" "00000000" "c0a8641c00004857" "00000000"
    "00000000" "0000"
    "0400" "0000" "0000" "b200" "1e00"  # 4 items: null address, unconnected data (30 bytes) ...
    "d4" "00" "00" "00"  # reply to Forward Open, reserved, status success, no additional status
    "0200a2f1"  # O->T connection id 0xf1a20002
    "0300a2f1"  # T->O connection id 0xf1a20003
    "0e00" "0100" "22f51300"  # connection serial, originator vendor, originator serial
    "10270000" "10270000"  # O->T and T->O actual packet intervals
    "00" "00"  # application reply size, reserved
    "0080" "1000" "000208ae00000000" "0000000000000000"  # ... sockaddr O->T: 0.0.0.0:2222 (big-endian)
    "0180" "1000" "000208aeefc00580" "0000000000000000"  # ... sockaddr T->O: 239.192.5.128:2222
)
LARGE_FORWARD_OPEN_REQUEST = bytes.fromhex(  # built to CIP Vol. 1, 3-5.5.2 (32-bit network parameters)
    "6f00" "4400" "01000000" "00000000" "0000000000000001" "00000000"  # length 68
    "00000000" "0000"
    "0200" "0000" "0000" "b200" "3400"  # unconnected data, 52 bytes
    "5b" "02" "2006" "2401"  # Large Forward Open to the Connection Manager
    "0a" "0e"  # priority/tick, ticks
    "00000000" "78563412"  # O->T id, T->O id 0x12345678
    "0700" "0100" "efbeadde"  # connection serial 7, vendor 1, originator serial 0xdeadbeef
    "03" "000000"  # multiplier, reserved
    "a0860100" "f401f043"  # O->T RPI 100000 µs, network parameters (32-bit)
    "a0860100" "f401f023"  # T->O RPI 100000 µs, network parameters (32-bit)
    "a3"  # transport: server, application triggered, class 3
    "03" "0100" "2002" "2401"  # path 3 words: port 1 (backplane) slot 0, message router instance 1
)
FORWARD_CLOSE_REQUEST = bytes.fromhex(  # EIP-RebootorRestart.pcap frame 31
    "6f00" "2800" "00010211" "00000000" "da9b02002008e100" "00000000"
    "00000000" "2000"
    "0200" "0000" "0000" "b200" "1800"
    "4e" "02" "2006" "2401"  # Forward Close to the Connection Manager
    "07" "f9"  # priority/tick, ticks
    "1400" "4d00" "f32b9532"  # connection serial 20, vendor 77, originator serial 0x32952bf3
    "03" "00"  # connection path size 3 words, reserved
    "0100" "2002" "2401"  # port 1 slot 0, message router instance 1
)
FORWARD_CLOSE_REPLY = bytes.fromhex(  # EIP-RebootorRestart.pcap frame 32
    "6f00" "1e00" "00010211" "00000000" "da9b02002008e100" "00000000"
    "00000000" "2000"
    "0200" "0000" "0000" "b200" "0e00"
    "ce" "00" "00" "00"  # reply to Forward Close, success
    "1400" "4d00" "f32b9532"  # connection serial, vendor, originator serial
    "00" "00"  # application reply size, reserved
)
UNCONNECTED_SEND_IDENTITY_REQUEST = bytes.fromhex(  # EIP-IPAddressChangeAttempt.pcap frame 59
    "6f00" "2400" "00010211" "00000000" "1981300018a7e100" "00000000"
    "00000000" "0a00"
    "0200" "0000" "0000" "b200" "1400"
    "52" "02" "2006" "2401"  # Unconnected Send to the Connection Manager
    "06" "9a"  # priority/tick, ticks
    "0600"  # embedded request: 6 bytes
    "01" "02" "2001" "2401"  # Get_Attributes_All to Identity instance 1
    "01" "00"  # route path 1 word, reserved
    "0100"  # port 1 (backplane), slot 0
)
UNCONNECTED_SEND_IDENTITY_REPLY = bytes.fromhex(  # frame 61: the embedded request's reply, routed back
    "6f00" "3700" "00010211" "00000000" "1981300018a7e100" "00000000"
    "00000000" "0a00"
    "0200" "0000" "0000" "b200" "2700"
    "81" "00" "00" "00"  # reply to Get_Attributes_All, success
    "0100" "0e00" "3600"  # vendor 1, device type 14 (PLC), product code 54
    "10" "14"  # revision 16.20
    "6030"  # status 0x3060
    "3f825100"  # serial 0x0051823f
    "14" "313735362d4c36312f42204c4f47495835353631"  # "1756-L61/B LOGIX5561"
)
UNCONNECTED_SEND_TIMEOUT_REPLY = bytes.fromhex(  # EIP-IPAddressChangeAttempt.pcap frame 51
    "6f00" "1800" "00010211" "00000000" "1681300018a7e100" "00000000"
    "00000000" "0a00"
    "0200" "0000" "0000" "b200" "0800"
    "d2" "00"  # reply to Unconnected Send, reserved
    "01"  # general status: connection failure
    "01" "0402"  # 1 word of additional status: 0x0204 unconnected request timed out
    "01" "00"  # remaining path size, reserved
)
GET_ATTRIBUTE_SINGLE_IDENTITY_REPLY = bytes.fromhex(  # EIP-FirmwareChange.pcap frame 10695 (attribute 0x66)
    "6f00" "1800" "00010212" "00000000" "9c3f0000489ae000" "00000000"
    "00000000" "1400"
    "0200" "0000" "0000" "b200" "0800"
    "8e" "00" "00" "00" "02000000"  # reply to Get_Attribute_Single, success, value
)

# ---- SendUnitData (connected)
MULTIPLE_SERVICE_REQUEST = bytes.fromhex(  # built to CIP Vol. 1, A-4.10: two services
    "7000" "3200" "00010211" "00000000" "0000000000000000" "00000000"  # SendUnitData, length 50
    "00000000" "0000"  # interface handle, timeout
    "0200" "a100" "0400" "010b7c00"  # 2 items: connected address, connection 0x007c0b01
    "b100" "1e00"  # connected data, 30 bytes
    "8907"  # CIP sequence count 1929
    "0a" "02" "2002" "2401"  # Multiple Service Packet to the Message Router instance 1
    "0200" "0600" "0c00"  # 2 services at offsets 6 and 12 (counted from the service count)
    "0e" "02" "2001" "2401"  # Get_Attribute_Single Identity instance 1 (no attribute: a bad request) ...
    "0e" "04" "2100" "0001" "2401" "3007"  # ... Get_Attribute_Single class 0x0100 (16-bit), instance 1, attr 7
)
MULTIPLE_SERVICE_REPLY = bytes.fromhex(
    "7000" "2800" "00010211" "00000000" "0000000000000000" "00000000"  # length 40
    "00000000" "0000"
    "0200" "a100" "0400" "03020100"  # connection 0x00010203 (the T->O id)
    "b100" "1400"  # connected data, 20 bytes
    "8907"  # same sequence count as the request
    "8a" "00" "1e" "00"  # Multiple Service Packet reply: embedded service error
    "0200" "0600" "0a00"  # 2 replies at offsets 6 and 10
    "8e" "00" "00" "00"  # Get_Attribute_Single success (no value)
    "8e" "00" "14" "00"  # Get_Attribute_Single: attribute not supported
)
READ_TAG_REQUEST = bytes.fromhex(  # cip_cotp_proces.pcap frame 2: a Logix tag read by name
    "7000" "2800" "8431e509" "00000000" "0000000000000000" "00000000"
    "00000000" "0000"
    "0200" "a100" "0400" "b882e34b"  # connection 0x4be382b8
    "b100" "1400" "0e3f"  # 20 bytes, sequence 16142
    "4c" "07"  # Read Tag, path 7 words
    "910c" "5f494f5f454d5f44495f3033"  # ANSI extended symbol "_IO_EM_DI_03"
    "0100"  # element count 1
)

# ---- a class 3 connection routed to a backplane slot (EIP-RebootorRestart.pcap frames 95, 96, 192, 193): the
# ENBT adapter at the IP address forwards the connection to the 1756-L61 controller in slot 0
ROUTED_FORWARD_OPEN_REQUEST = bytes.fromhex(  # frame 95
    "6f00" "4000" "00010211" "00000000" "4a9c02002008e100" "00000000"  # SendRRData, length 64
    "00000000" "2000"  # interface handle, timeout 32
    "0200" "0000" "0000" "b200" "3000"  # 2 items: null address; unconnected data, 48 bytes
    "54" "02" "2006" "2401"  # Forward Open to the Connection Manager instance 1
    "07" "f9"  # priority/tick time, time-out ticks
    "18000080"  # O->T connection id 0x80000018 (a proposal: the target chooses)
    "1700fe80"  # T->O connection id 0x80fe0017 (the originator's choice)
    "1800" "4d00" "f32b9532"  # connection serial 0x18, originator vendor 77, originator serial 0x32952bf3
    "00" "000000"  # timeout multiplier, reserved
    "00127a00" "f443"  # O->T RPI 8 s, network parameters
    "00127a00" "f443"  # T->O RPI 8 s, network parameters
    "a3"  # transport: server, application triggered, class 3
    "03"  # connection path: 3 words
    "0100"  # port 1 (backplane), slot 0
    "2002" "2401"  # Message Router instance 1
)
ROUTED_FORWARD_OPEN_REPLY = bytes.fromhex(  # frame 96
    "6f00" "2e00" "00010211" "00000000" "4a9c02002008e100" "00000000"  # length 46, the request's context
    "00000000" "2000"
    "0200" "0000" "0000" "b200" "1e00"  # null address; unconnected data, 30 bytes
    "d4" "00" "00" "00"  # reply to Forward Open, success
    "010b7900"  # O->T connection id 0x00790b01: the originator's requests use it
    "1700fe80"  # T->O connection id 0x80fe0017: the target's replies use it
    "1800" "4d00" "f32b9532"  # connection serial, originator vendor, originator serial
    "00127a00" "00127a00"  # O->T and T->O actual packet intervals
    "00" "00"  # application reply size, reserved
)
CONNECTED_IDENTITY_REQUEST = bytes.fromhex(  # frame 192
    "7000" "2c00" "00010211" "00000000" "0000000000000000" "00000000"  # SendUnitData, length 44
    "00000000" "0100"  # interface handle, timeout 1
    "0200" "a100" "0400" "010b7900"  # 2 items: connected address, connection 0x00790b01 (O->T) ...
    "b100" "1800" "2e00"  # ... connected data, 24 bytes, CIP sequence count 46
    "03" "02" "2001" "2401"  # Get_Attribute_List to Identity instance 1
    "0700" "0100" "0200" "0300" "0400" "0500" "0600" "0700"  # attributes 1-7
)
CONNECTED_IDENTITY_REPLY = bytes.fromhex(  # frame 193
    "7000" "5b00" "00010211" "00000000" "0000000000000000" "00000000"  # length 91
    "00000000" "0000"
    "0200" "a100" "0400" "1700fe80"  # connection 0x80fe0017 (T->O)
    "b100" "4700" "2e00"  # connected data, 71 bytes, same sequence count
    "83" "00" "00" "00"  # reply to Get_Attribute_List, success
    "0700"  # 7 attributes, each id, status, value
    "0100" "0000" "0100"  # vendor 1
    "0200" "0000" "0e00"  # device type 14 (programmable logic controller)
    "0300" "0000" "3600"  # product code 54
    "0400" "0000" "10" "14"  # revision 16.20
    "0500" "0000" "6030"  # status 0x3060
    "0600" "0000" "3f825100"  # serial 0x0051823f
    "0700" "0000" "14" "313735362d4c36312f42204c4f47495835353631"  # "1756-L61/B LOGIX5561"
)

# ---- paths
PATH_WIDE_SEGMENTS = bytes.fromhex(
    "2100" "0001"  # 16-bit class 0x0100 (pad byte, value)
    "2600" "78563412"  # 32-bit instance 0x12345678
    "3100" "0500"  # 16-bit attribute 5
)
PATH_PORT_IP_ADDRESS = bytes.fromhex(  # port 2, extended link address "10.1.2.3" (padded), then class 2
    "12" "08" "31302e312e322e33" "2002")
PATH_TRUNCATED_INSTANCE = bytes.fromhex("2001" "25")  # a 16-bit instance segment without its value

# ---- UDP 2222 implicit I/O (ndpi cip_io.pcap frame 1)
IO_DATAGRAM = bytes.fromhex(
    "0200"  # 2 items
    "0280" "0800" "787b3a00" "e8cb5e04"  # sequenced address: connection 0x003a7b78, sequence 73321448
    "b100" "0c00" "0300fdffffffffffffff0000"  # connected data, 12 bytes
)
