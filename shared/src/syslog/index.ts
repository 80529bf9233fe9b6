/** Syslog: writing (formats, sinks, the buffered logger) and reading (parsing log lines, year inference). */
export {
  FACILITIES,
  SEVERITIES,
  MONTHS,
  TRUNCATION_MARKER,
  DEFAULT_MAX_BYTES,
  MIN_MAX_BYTES,
  parseFacility,
  parseSeverity,
  facilityName,
  severityName,
  pri,
  wallClock,
  timestamp3164,
  timestamp3339,
  formatOffset,
  escapeControl,
  formatLocal,
  format3164,
  format5424,
  formatHuman,
  formatMessage,
} from './format.js';
export type { FacilityName, SeverityName, TimeZone, WallClock, SyslogMessage, FormatOptions, MessageFormat } from './format.js';
export { MemoryLog, parseSinkSpec, describeSink, DEFAULT_UNIX_PATH, DEFAULT_SYSLOG_PORT } from './sinks.js';
export type { SinkSpec, SinkStats, RemoteFormat, TcpFraming, LineStream } from './sinks.js';
export { createSyslog } from './writer.js';
export type { Syslog, SyslogOptions, SyslogStats, CloseReport } from './writer.js';
export { parseLogLine, toTraditional, YearInferrer } from './parse.js';
export type { LogLine, LogFormat, StructuredElement, LogParseContext } from './parse.js';
