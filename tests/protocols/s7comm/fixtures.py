"""Byte fixtures for the ISO-on-TCP analyzer, taken from corpus captures (named in each comment) and
annotated field by field. Each is a whole TPKT as it appears on the TCP stream."""

from __future__ import annotations

# ---- COTP connection set-up (s7comm/emreekin-ics-pcaps/1-S7comm-VarService-Read-DB1DBD0.pcap frames 4, 5)
COTP_CR_RACK0_SLOT2 = bytes.fromhex(
    "03 00 00 16"  # TPKT version 3, length 22
    "11 e0"        # COTP length indicator 17, CR (0xE), credit 0
    "00 00"        # destination reference
    "00 01"        # source reference
    "00"           # class 0, no options
    "c1 02 01 00"  # calling TSAP 0x0100
    "c2 02 03 02"  # called TSAP 0x0302: S7 basic connection (3), rack 0 slot 2 (0x02)
    "c0 01 09"     # TPDU size 2^9 = 512
)
COTP_CC_RACK0_SLOT2 = bytes.fromhex(
    "03 00 00 16" "11 d0"  # CC
    "00 01" "14 30" "00"   # dst ref 1, src ref 0x1430, class 0
    "c0 01 09" "c1 02 01 00" "c2 02 03 02"
)
COTP_CR_TIA_HMI = bytes.fromhex(  # s7comm/controlthings-ct-samples/S7-1511_db2_var1_HMI.pcap frame 4
    "03 00 00 24" "1f e0" "00 00" "00 1b" "00"
    "c1 02 06 20"                                         # calling TSAP 0x0620
    "c2 10 53494d415449432d524f4f542d484d49"              # called TSAP "SIMATIC-ROOT-HMI"
    "c0 01 0a"                                            # TPDU size 1024
)
COTP_CR_TIA_ES = bytes.fromhex(  # s7comm/controlthings-ct-samples/S7-1200-Uploading-OB1-TIAV12.pcap frame 4
    "03 00 00 23" "1e e0" "00 00" "00 11" "00"
    "c1 02 06 00"                                         # calling TSAP 0x0600
    "c2 0f 53494d415449432d524f4f542d4553"                # called TSAP "SIMATIC-ROOT-ES": TIA Portal
    "c0 01 0a"                                            # TPDU size 1024
)
EMPTY_DT_NOT_LAST = bytes.fromhex("03 00 00 07" "02 f0 00")  # DT without data and without end of TSDU

# ---- S7comm jobs and answers
SETUP_COMMUNICATION_JOB = bytes.fromhex(  # s7comm/cisagov-icsnpp-s7comm/snap7.pcap frame 1
    "03 00 00 19" "02 f0 80"  # TPKT; COTP DT, EOT
    "32 01 0000 0000 0008 0000"  # S7comm, job, reserved, PDU ref 0, param length 8, data length 0
    "f0 00 0001 0001 01e0"       # setup communication: AmQ calling 1, called 1, PDU size 480
)
SETUP_COMMUNICATION_ACK = bytes.fromhex(  # snap7.pcap frame 2
    "03 00 00 1b" "02 f0 80"
    "32 03 0000 0000 0008 0000 00 00"  # ack_data, error class 0, code 0
    "f0 00 0001 0001 00f0"             # negotiated PDU size 240
)
READ_VAR_DB1_DBD0_JOB = bytes.fromhex(  # 1-S7comm-VarService-Read-DB1DBD0.pcap frame 10
    "03 00 00 1f" "02 f0 80"
    "32 01 0000 0000 000e 0000"
    "04 01"                  # read var, 1 item
    "12 0a 10"               # variable specification, length 10, syntax S7ANY
    "02 0004 0001 84 000000"  # transport size BYTE, 4 elements, DB 1, area DB (0x84), bit address 0
)
READ_VAR_DB1_DBD0_ACK = bytes.fromhex(  # frame 11
    "03 00 00 1d" "02 f0 80"
    "32 03 0000 0000 0002 0008 00 00"
    "04 01"                       # read var, 1 item
    "ff 04 0020 00010002"         # success, transport size BYTE/WORD (length in bits: 32), 4 data bytes
)
WRITE_VAR_FLAGS_JOB = bytes.fromhex(  # built like snap7's write of MB10..11
    "03 00 00 25" "02 f0 80"
    "32 01 0000 0100 000e 0006"
    "05 01"
    "12 0a 10 02 0002 0000 83 000050"  # BYTE x2, flags (M) area, byte 10 bit 0 (bit address 0x50)
    "00 04 0010 abcd"                  # data item: reserved, BYTE/WORD, 16 bits, the value
)
WRITE_VAR_ADDRESS_ERROR_ACK = bytes.fromhex(
    "03 00 00 16" "02 f0 80"
    "32 03 0000 0100 0002 0001 00 00"
    "05 01" "05"  # write var, 1 item; return code 0x05: invalid address
)
PLC_STOP_JOB = bytes.fromhex(  # s7comm/gymgit-s7-pcaps/snap7_s300_stop.pcapng frame 1
    "03 00 00 21" "02 f0 80"
    "32 01 0000 0200 0010 0000"
    "29 0000000000 09 505f50524f4752414d"  # PLC stop, 5 unknown bytes, service "P_PROGRAM"
)
PI_INSE_DB1_JOB = bytes.fromhex(  # s7comm/controlthings-ct-samples/s7comm_downloading_block_db1.pcap frame 58
    "03 00 00 2b" "02 f0 80"
    "32 01 0000 0f00 001a 0000"
    "28 000000000000fd"           # PI service, 7 unknown bytes
    "000a" "01 00 3041 3030303031 50"  # parameter block: 1 block, "0A" (DB) "00001" "P"
    "05 5f494e5345"                # service name "_INSE": activate the downloaded block
)
REQUEST_DOWNLOAD_OB1_JOB = bytes.fromhex(  # s7comm/gymgit-s7-pcaps/tia_s300_downloadOb1.pcapng frame 57
    "03 00 00 31" "02 f0 80"
    "32 01 0000 bd0a 0020 0000"
    "1a 00 0100 00000000"          # request download, status 0, unknown 2 + 4 bytes
    "09 5f30383030303031 50"       # file name "_0800001P": OB 1, passive file system
    "0d 31 303030333332 303030323132"  # part 2: "1", load memory length 000332, MC7 length 000212
)
START_UPLOAD_SDB0_JOB = bytes.fromhex(  # snap7.pcap frame 17
    "03 00 00 23" "02 f0 80"
    "32 01 0000 0800 0012 0000"
    "1d 00 0000 00000000" "09 5f3042303030303041"  # start upload, upload id 0, "_0B00000A": SDB 0, active
)
START_UPLOAD_SDB0_ACK = bytes.fromhex(  # snap7.pcap frame 18
    "03 00 00 23" "02 f0 80"
    "32 03 0000 0800 0010 0000 00 00"
    "1d 00 0100 00000007" "07 30303030323136"  # upload id 7, block length "0000216"
)
READ_SZL_0011_REQUEST = bytes.fromhex(  # snap7.pcap frame 3
    "03 00 00 21" "02 f0 80"
    "32 07 0000 0100 0008 0008"
    "000112 04 11 44 01 00"  # userdata head, length 4, method request, type 4 / group 4 (CPU), read SZL, seq 0
    "ff 09 0004 0011 0000"   # success, octet string, 4 bytes: SZL id 0x0011, index 0
)
READ_SZL_0011_RESPONSE = bytes.fromhex(  # snap7.pcap frame 4
    "03 00 00 99" "02 f0 80"
    "32 07 0000 0100 000c 007c"
    "000112 08 12 84 01 02 00 00 0000"  # response, type 8 / group 4, read SZL, seq 2, dur 0, last, no error
    "ff 09 0078 0011 0000 001c 0004"    # SZL 0x0011 index 0: 4 records of 28 bytes
    "0001 36455337203331352d32454831342d30414230 20 00c0 0003 0001"  # module: MLFB "6ES7 315-2EH14-0AB0"
    "0006 36455337203331352d32454831342d30414230 20 00c0 0003 0001"  # basic hardware, version 3
    "0007 2020202020202020202020202020202020202020 00c0 5603 0207"   # basic firmware: 'V' 3, 2.7: V3.2.7
    "0081 426f6f74204c6f61646572202020202020202020 0000 4120 0909"   # firmware extension (boot loader)
)
READ_SZL_001C_REQUEST = bytes.fromhex(  # snap7.pcap frame 5
    "03 00 00 21" "02 f0 80" "32 07 0000 0200 0008 0008" "000112 04 11 44 01 00" "ff 09 0004 001c 0000"
)
READ_SZL_001C_FIRST_FRAGMENT = bytes.fromhex(  # snap7.pcap frame 6: data unit 0xd5, more data follows
    "030000f702f080320700000200000c00da0001120812840102d5010000ff0900d6001c00000022000a000153373330302f45"
    "543230304d2073746174696f6e5f31000000000000000000000002504c435f31000000000000000000000000000000000000"
    "0000000000000000000003000000000000000000000000000000000000000000000000000000000000000000044f72696769"
    "6e616c205369656d656e732045717569706d656e7400000000000000055320432d4231553339333134323031310000000000"
    "00000000000000000000000007435055203331352d3220504e2f445000000000000000000000000000000000000008"
)
READ_SZL_FOLLOW_UP_REQUEST = bytes.fromhex(  # snap7.pcap frame 7: method 0x12 with type request, no data
    "03 00 00 21" "02 f0 80" "32 07 0000 0300 000c 0004" "000112 08 12 44 01 02 00 00 0000" "0a 00 0000"
)
READ_SZL_001C_LAST_FRAGMENT = bytes.fromhex(  # snap7.pcap frame 8: data unit 0xd5, last
    "030000a702f080320700000300000c008a0001120812840102d5000000ff0900864d4d432034413141433031390000000000"
    "0000000000000000000000000000000009002af6000001000000000000000000000000000000000000000000000000000000"
    "0a0000000000000000000000000000000000000000000000000000000000000000000b000000000000000000000000000000"
    "0000000000000000000000000000000000"
)
READ_SZL_0424_RESPONSE = bytes.fromhex(  # snap7.pcap frame 12: current mode
    "03 00 00 3d" "02 f0 80" "32 07 0000 0500 000c 0020" "000112 08 12 84 01 02 00 00 0000"
    "ff 09 001c 0424 0000 0014 0001"
    "5144 ff 08 00000000 00 00 00 00 1602081451375692"  # event id, ae, bzu-id 0x08: requested mode RUN
)
CYCLIC_SUBSCRIBE_DBREAD = bytes.fromhex(  # built like wincc_s400_production.pcapng frame 22, two DB areas
    "03 00 00 37" "02 f0 80"
    "32 07 0000 0c00 0008 001e"
    "000112 04 11 42 05 00"           # request, type 4 / group 2 (cyclic data), change driven, seq 0
    "ff 09 001a"                      # data head, 26 bytes
    "00 02 01 02"                     # reserved, 2 items, interval time base 1, time 2
    "12 07 b0 01 0a 0044 018a"        # DBREAD, 1 area: 10 bytes of DB 68 from byte 394
    "00"                              # fill byte after the odd-length (9-byte) item
    "12 0a 10 02 0004 0000 83 000050"  # S7ANY: 4 bytes of flags (M) from byte 10
)

# ---- S7comm-plus
PLUS_V1_CREATE_OBJECT_REQUEST = bytes.fromhex(  # S7-1511_db2_var1_HMI.pcap frame 6
    "030000d902f080"
    "72 01 00ca"                 # S7comm-plus, version 1, data length 202
    "31 0000 04ca 0000 0001"     # request, create_object, sequence number 1
    "00000120 36"                # session id 0x120 (the initial "ObjectServerSessionContainer"), flags
    "0000011d00040000000000a1000000d3821f0000a3816900151653657276657253657373696f6e5f3130303030303030a382"
    "2100150a313a3a3a362e33323a3aa38228001508484d492055534552a38229001505534d405254a3822a001508484d4920484f"
    "5354a3822b000402a3822c001210000000a3822d0015164f4d532b20666f7220534d4152542052756e74696d65a1000000d381"
    "7f0000a38169001515537562736372697074696f6e436f6e7461696e6572a2a200000000"
    "72 01 0000"                 # trailer
)
PLUS_V2_GET_MULTI_VARIABLES_REQUEST = bytes.fromhex(  # S7-1511_db2_var1_HMI.pcap frame 12
    "0300007102f080"
    "72 02 0062"
    "31 0000 054c 0000 0003 00000388 34"  # request, get_multi_variables, seq 3, session 0x388, flags
    "00000000030e0032019a7b00814902880d876800814902880d8769000004e88969001200000000896a001300896b00040000"
    "01"
    "20 30c5e538987afc200c34551fedeba31b3a191d2b621519e9aedb2b3eec10469d"  # integrity: 32-byte digest at the end
    "72 02 0000"
)
PLUS_V2_SET_MULTI_VARIABLES_RESPONSE = bytes.fromhex(  # S7-1511_db2_var1_HMI.pcap frame 10: no digest
    "0300002002f080" "72 02 0011" "32 0000 0542 0000 0002 34 00000000000000" "72 02 0000"
)
PLUS_V3_SET_VARIABLE_REQUEST = bytes.fromhex(  # s7comm/cisagov-icsnpp-s7comm/s7comm_plus.pcap frame 7
    "0300006802f080"
    "72 03 0059"
    "20 e969a95a852ab0e288480ccecb618e48779f4b68a1ce9a9c42cd6aa536800683"  # integrity part first (version 3)
    "31 0000 04f2 0000 831a 70000e4d 74"  # request, set_variable, seq 0x831a, session 0x70000e4d
    "70000e5101881d000700ce000004e88969001200000000896a001300896b000400000084eb2700000000"
    "72 03 0000"
)
PLUS_V3_NOTIFICATION = bytes.fromhex(  # s7comm_plus.pcap frame 2
    "0300007102f080"
    "72 03 0062"
    "20 08c83ace381dfdbc42201789dec03b099172858efb6f3ef2e5e8ecb8bd254665"
    "33 70000e51"                # notification for subscription 0x70000e51
    "040000000000c98ec148019200000005000e41aa70aa9200000019000e417e538e920000001a000e41467956920000001b000e"
    "4193eb850000000000"
    "72 03 0000"
)
PLUS_SYSTEM_EVENT = bytes.fromhex(  # s7comm/emreekin-ics-pcaps/CotpAnalog.pcap frame 21: no trailer
    "0300001b02f080" "72 fe 0010" "0000000000025a060000000000000000"
)
PLUS_KEEPALIVE = bytes.fromhex("0300000b02f080" "72 ff 05 00")  # keep-alive, sequence 5
PLUS_IDENTITY_RESPONSE = bytes.fromhex(  # S7-1200-Uploading-OB1-TIAV12.pcap frame 17
    "0300005f02f080"
    "72 02 0050"
    "32 0000 0586 0000 0004 34"  # response, get_var_sub_streamed, seq 4
    "00000014003c002000380100"
    "2a"                                       # blob of 42 bytes:
    "36455337203231342d31484533302d3058423020"  # order number "6ES7 214-1HE30-0XB0 "
    "535a5642445958583031373638352020"          # serial number "SZVBDYXX017685  "
    "0002 5602 0200"                            # module type, 'V' 2, 2.0: firmware V2.2.0
    "00000000000001010100 1e00000000"
    "72 02 0000"
)
# A message split over two PDUs: only the second carries the trailer.
PLUS_FRAGMENT_1 = bytes.fromhex("0300001202f080" "72 02 0007" "31 0000 04bb 0000")
PLUS_FRAGMENT_2 = bytes.fromhex("0300001702f080" "72 02 0008" "0009 00000388 34 00" "72 02 0000")
# TIA Portal V12 loading OB1 into an S7-1200 (S7-1200-Uploading-OB1-TIAV12.pcap): the block is created inside a
# transaction on the CPU's object store, opened by BeginSequence and closed by EndSequence.
PLUS_V2_BEGIN_SEQUENCE_REQUEST = bytes.fromhex(  # frame 121
    "0300004202f080"
    "72 02 0033"
    "31 0000 0556 0000 0025 000003c0 36"  # request, begin_sequence, seq 0x25, session 0x3c0, flags
    "02 0001 00"                          # transaction type 2, value type 1 (an object follows)
    "a1 7fffc001 8d24 0000"               # start of object: relation id, class id, class flags
    "a3 8169 0015 0d 444c5472616e73616374696f6e"  # attribute ObjectVariableTypeName: WString "DLTransaction"
    "a2 00000000"                         # terminating object, fill
    "72 02 0000"
)
PLUS_V2_END_SEQUENCE_REQUEST = bytes.fromhex(  # frame 130, after the CreateObject of the OB "Main" (3 PDUs)
    "0300002302f080" "72 02 0014" "31 0000 0560 0000 0028 000003c0 36" "0000 00000000" "72 02 0000"
)
PLUS_V2_DELETE_OBJECT_REQUEST = bytes.fromhex(  # frame 146: TIA Portal goes offline, deleting its session
    "0300003d02f080"
    "72 02 002e"
    "31 0000 04d4 0000 002b 000003c0 34"  # request, delete_object, seq 0x2b, session 0x3c0
    "000003c0"                            # the object to delete: the session itself
    "00000004e88969001200000000896a001300896b0004000000000000"
    "72 02 0000"
)
PLUS_V2_DELETE_OBJECT_RESPONSE = bytes.fromhex(  # frame 147
    "0300002202f080" "72 02 0013" "32 0000 04d4 0000 002b 34" "00 000003c0 00000000" "72 02 0000"
)
