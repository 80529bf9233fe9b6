#!/bin/sh
# Regenerates the input.pcap of the golden cases captured from real traffic (real-*), which
# make-cases.mjs does not build. Needs root, iproute2, tcpdump and nmap. The traffic runs between two
# network namespaces made for the purpose (ts-gc-t, the watched host, and ts-gc-s, the scanner),
# joined by one veth pair, 198.18.21.0/24 and 2001:db8:21::/64 (LAB.md), so nothing else on the machine
# can slip into the capture and nothing leaves it. After a regeneration, expected.log must be written
# again by hand from what `tcpdump -nn -r` shows (see README.md); the replay is not the oracle.
#
# real-sll2-outgoing-trigger: `tcpdump -i any -y LINUX_SLL2` in the watched host, in this order:
#     scanner -> host   nmap -sS -r  198.18.21.1     ports 40300-40304   5 SYN probes (incoming)
#     host -> scanner   nmap -sS -r  198.18.21.2     ports 40300-40304   5 SYN probes the host sends
#     scanner -> host   nmap -6 -sF -r 2001:db8:21::1 ports 40300-40302  3 FIN probes (incoming)
#     scanner -> host   nmap -sU -r  198.18.21.1     ports 40300-40301   2 UDP probes (incoming)
#   The capture filter keeps packets to ports 40300-40309 in both directions.
#
# real-loopback-probes is a copy of portsentry/test/fixtures/loopback-probes.pcap; regenerate it with
# portsentry/test/fixtures/make-loopback-pcap.sh and copy it over.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
t=ts-gc-t
s=ts-gc-s
dump=
cleanup() {
  if [ -n "$dump" ]; then kill -INT "$dump" 2>/dev/null || true; wait "$dump" 2>/dev/null || true; fi
  ip netns del "$t" 2>/dev/null || true
  ip netns del "$s" 2>/dev/null || true
}
trap cleanup EXIT INT TERM
cleanup # leftovers of an earlier crashed run
ip netns add "$t"
ip netns add "$s"
ip link add ts-gc-e1 netns "$t" type veth peer name ts-gc-e2 netns "$s"
ip -n "$t" addr add 198.18.21.1/24 dev ts-gc-e1
ip -n "$t" addr add 2001:db8:21::1/64 dev ts-gc-e1 nodad
ip -n "$s" addr add 198.18.21.2/24 dev ts-gc-e2
ip -n "$s" addr add 2001:db8:21::2/64 dev ts-gc-e2 nodad
for n in "$t" "$s"; do ip -n "$n" link set lo up; done
ip -n "$t" link set ts-gc-e1 up
ip -n "$s" link set ts-gc-e2 up
sleep 1

out=$here/real-sll2-outgoing-trigger/input.pcap
mkdir -p "$(dirname "$out")"
ip netns exec "$t" tcpdump -i any -y LINUX_SLL2 -U -n -w "$out" '(tcp or udp) and dst portrange 40300-40309' 2>/dev/null &
dump=$!
sleep 1
ip netns exec "$s" timeout 20 nmap -n -Pn -sS -r --max-retries 0 -p 40300-40304 198.18.21.1 >/dev/null
ip netns exec "$t" timeout 20 nmap -n -Pn -sS -r --max-retries 0 -p 40300-40304 198.18.21.2 >/dev/null
ip netns exec "$s" timeout 20 nmap -6 -n -Pn -sF -r --max-retries 0 -p 40300-40302 2001:db8:21::1 >/dev/null
ip netns exec "$s" timeout 20 nmap -n -Pn -sU -r --max-retries 0 -p 40300-40301 198.18.21.1 >/dev/null
sleep 1
kill -INT "$dump"
wait "$dump" || true
dump=
echo "make-real-cases: wrote $out"
