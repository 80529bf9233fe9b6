/**
 * portsentry's pure core: frame decoding, probe classification, capture-filter building and a pcap
 * file reader. No I/O, no clock, no logging.
 */
export { formatIp } from './addr.js';
export type { AddrBytes } from './addr.js';
export { LINKTYPE, isSupportedLinkType, linkTypeFromName } from './linktype.js';
export type { LinkType } from './linktype.js';
export {
  decodeFrame,
  IPPROTO_TCP,
  IPPROTO_UDP,
  TCP_ACK,
  TCP_CWR,
  TCP_ECE,
  TCP_FIN,
  TCP_PSH,
  TCP_RST,
  TCP_SYN,
  TCP_URG,
} from './decode.js';
export type {
  BadIpHeaderResult,
  DecodeResult,
  FragmentResult,
  IpFields,
  MalformedReason,
  MalformedResult,
  OtherResult,
  Packet,
  TcpPacket,
  UdpPacket,
} from './decode.js';
export { classifyPacket, classifyTcpFlags, DEFAULT_CLASSIFY_OPTIONS, scanMessage } from './classify.js';
export type { ClassifyOptions, ScanKind } from './classify.js';
export { buildCaptureFilter, DEFAULT_MAX_RANGES, planPortRanges, selectedPorts } from './bpf.js';
export type { CaptureFilterSpec, PortPlan, PortRange, PortSelection } from './bpf.js';
export { pcapRecords, readPcap, readPcapHeader } from './pcapfile.js';
export type { PcapFailure, PcapHeader, PcapHeaderResult, PcapReadResult, PcapRecord, PcapTail } from './pcapfile.js';
export { NO_SOCKETS, OWN_FLOW_MAX, OWN_FLOW_TTL_MS, replayContext, StealthDetector } from './detect.js';
export type { DetectorEvent, DetectorOptions, DetectorStats, FrameContext, HostSockets, Probe, SourceFilter, WatchProto } from './detect.js';
export { eventLines, probeLines } from './messages.js';
export { TriggerEngine } from './trigger.js';
export type { TriggerOptions, TriggerResult } from './trigger.js';
export { buildSocketTable, diffListening, EMPTY_SOCKET_TABLE, parseProcNet, TCP_STATE } from './sockets.js';
export type { ListeningDiff, ParsedProcNet, ParseProcNetOptions, SockFamily, SocketEntry, SockProto, SocketTable } from './sockets.js';
