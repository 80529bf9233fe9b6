/**
 * The log lines of a detection, word for word as PortSentry 1.2 wrote them (its log parsers, Debian's
 * logcheck rules and fail2ban's `portsentry` filter read these), plus the lines for what 1.2 could not
 * see, written in the same shape. Pure: the caller supplies the resolved name (or the IP again).
 */
import { scanMessage } from './classify.js';
import type { DetectorEvent, Probe, WatchProto } from './detect.js';

function word(proto: WatchProto): 'TCP' | 'UDP' {
  return proto === 'tcp' ? 'TCP' : 'UDP';
}

/** The lines for one probe that crossed the trigger, before any response line. */
export function probeLines(p: Probe, name: string): string[] {
  const P = word(p.proto);
  const out = [`attackalert: ${scanMessage(p.kind, p.flags)} from host: ${name}/${p.source} to ${P} port: ${p.port}`];
  if (p.ipOptions) {
    out.push(`attackalert: Packet from host: ${name}/${p.source} to ${P} port: ${p.port} has IP options set (detection avoidance technique).`);
  }
  return out;
}

/** The lines for any detector event. `name` is the resolved source name, or the address itself. */
export function eventLines(e: DetectorEvent, name: string): string[] {
  switch (e.type) {
    case 'detection':
      return probeLines(e.probe, name);
    case 'bad-ip-header':
      // 1.2 printed only the address here ("(possible)": the header that holds it is broken).
      return [`attackalert: Illegal IP header length detected in ${word(e.proto)} packet: ${e.ihl} from (possible) host: ${e.source}`];
    case 'hidden-header': {
      const P = word(e.proto);
      return [`attackalert: Fragmented ${P} packet from host: ${name}/${e.source} hides its ${P} header (detection avoidance technique).`];
    }
    default: {
      const never: never = e;
      return never;
    }
  }
}
