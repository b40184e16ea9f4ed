/**
 * Where the agent's records travel. Never ttyS0: the console carries kernel messages, which
 * can arrive at any moment (a WARNING in the middle of a record would corrupt it). Prefer a
 * virtio-serial port: it is a clean byte pipe with flow control, and the guest finds it by the
 * name the host gives it. A kernel without virtio_console built in gets the second 8250 UART
 * (ttyS1), which every x86 kernel with a serial console has; it is slower (emulated UART) and
 * needs raw mode in the guest, so it is the fallback, not the default.
 */
export type ChannelKind = 'virtio' | 'ttyS1';

export interface ChannelChoice {
  kind: ChannelKind;
  why: string;
  /** Options this choice needs built in (=y): an initramfs guest has no modules. */
  requires: string[];
}

const VIRTIO_NEEDS = ['CONFIG_VIRTIO_PCI', 'CONFIG_VIRTIO_CONSOLE'];
const UART_NEEDS = ['CONFIG_SERIAL_8250', 'CONFIG_SERIAL_8250_CONSOLE'];

export function chooseChannel(config: ReadonlyMap<string, string>, forced?: ChannelKind): ChannelChoice {
  const builtIn = (opt: string): boolean => config.get(opt) === 'y';
  if (forced === 'ttyS1' || (!forced && !VIRTIO_NEEDS.every(builtIn))) {
    const runtimeUarts = Number(config.get('CONFIG_SERIAL_8250_RUNTIME_UARTS') ?? '4');
    if (runtimeUarts < 2) {
      // No second UART either: name virtio as the fix, the config check then reports it missing.
      return { kind: 'virtio', why: `CONFIG_SERIAL_8250_RUNTIME_UARTS=${runtimeUarts} leaves no ttyS1`, requires: [...VIRTIO_NEEDS, ...UART_NEEDS] };
    }
    const why = forced ? 'forced by --channel ttyS1' : 'virtio_console or virtio-pci is not built in';
    return { kind: 'ttyS1', why, requires: UART_NEEDS };
  }
  return { kind: 'virtio', why: 'virtio_console and virtio-pci are built in', requires: [...VIRTIO_NEEDS, ...UART_NEEDS] };
}
