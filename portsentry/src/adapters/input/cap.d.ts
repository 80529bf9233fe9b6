/**
 * Types for the `cap` package (0.2.1) as patched by patches/cap+0.2.1.patch: only the part of its API
 * that TriSentry uses. `cap` is CommonJS whose `module.exports` is assigned at run time, so Node
 * cannot see named exports from ESM: use `import cap from 'cap'; const { Cap } = cap;` or
 * `createRequire(import.meta.url)('cap')`, never `import { Cap } from 'cap'` (it type-checks but
 * fails at run time).
 */
declare module 'cap' {
  import { EventEmitter } from 'node:events';

  namespace cap {
    /**
     * libpcap's counters for one handle (pcap_stats: ps_recv, ps_drop, ps_ifdrop). On Linux
     * `received` counts packets that passed the filter, counted by the kernel (on `lo` each packet is
     * counted twice, once per direction, though delivered once); `dropped` those lost because the
     * buffer was full; `ifdropped` those the interface dropped. All are 32-bit in libpcap and wrap.
     */
    interface CapStats {
      readonly received: number;
      readonly dropped: number;
      readonly ifdropped: number;
    }

    /**
     * A frame was captured into the buffer given to `open`: `buffer[0..nbytes)` holds it only until
     * the listener returns. `truncated` is true when the frame did not fit the buffer. The capture
     * time is `tsSec` seconds plus `tsUsec` microseconds since the Unix epoch (libpcap's header).
     */
    type PacketListener = (nbytes: number, truncated: boolean, tsSec: number, tsUsec: number) => void;

    /** One address of an interface, as printed by inet_ntop (IPv4 and IPv6 only). */
    interface DeviceAddress {
      readonly addr: string;
      readonly netmask?: string;
      readonly broadaddr?: string;
      readonly dstaddr?: string;
    }

    /** One interface from pcap_findalldevs. `flags` is 'PCAP_IF_LOOPBACK' on loopbacks, else absent. */
    interface Device {
      readonly name: string;
      readonly description?: string;
      readonly addresses: DeviceAddress[];
      readonly flags?: string;
    }

    /**
     * One libpcap capture handle. Open it once: a second `open` on the same instance throws (create a
     * new Cap instead). While open it keeps the event loop alive; `close` releases it.
     */
    class Cap extends EventEmitter {
      constructor();

      /**
       * Starts capturing on `device` with the BPF `filter` ('' = everything), a kernel buffer of
       * `bufSize` bytes, copying each frame into `buffer` (truncating to its length). `promisc`
       * defaults to true; `snaplen` (64..262144, patched in) defaults to 65535 — keep it small, since
       * with immediate mode every kernel ring slot is snaplen bytes. Returns the link type: 'ETHERNET', 'NULL', 'RAW', 'LINKTYPE_LINUX_SLL',
       * 'IEEE802_11_RADIO' or 'Unknown linktype N'. Throws an Error with libpcap's reason on failure,
       * leaving the instance closed.
       */
      open(device: string, filter: string, bufSize: number, buffer: Buffer, promisc?: boolean, snaplen?: number): string;

      /** Stops capturing. True if a capture was open, false if there was nothing to close. */
      /** Replaces the BPF filter of the open handle in place (patched in). Throws libpcap's reason. */
      setFilter(filter: string): void;

      close(): boolean;

      /** libpcap's counters. Throws an Error when the handle is not open or pcap_stats fails. */
      stats(): CapStats;

      /** 'packet': see {@link PacketListener}. */
      on(event: 'packet', listener: PacketListener): this;
      on(event: string | symbol, listener: (...args: unknown[]) => void): this;

      /** The name of the interface holding `ip` (any IPv4/IPv6 interface when omitted), if any. */
      static findDevice(ip?: string): string | undefined;

      /** Every interface libpcap can open. Throws an Error with libpcap's reason on failure. */
      static deviceList(): Device[];
    }

    /** Same as {@link Cap.findDevice}. */
    function findDevice(ip?: string): string | undefined;

    /** Same as {@link Cap.deviceList}. */
    function deviceList(): Device[];
  }

  export = cap;
}
