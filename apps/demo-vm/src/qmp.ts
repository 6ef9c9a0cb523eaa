/**
 * A QMP monitor on a Unix socket (QEMU's wire protocol, docs/interop/qmp-spec):
 * the greeting, capabilities negotiation, commands with optional `id`,
 * asynchronous events with timestamps, and QEMU's error classes
 * (GenericError, CommandNotFound) for bad commands and malformed JSON.
 * `socat - UNIX-CONNECT:PATH` drives it as it drives QEMU.
 *
 * Commands: qmp_capabilities, query-status, stop, cont, system_reset,
 * query-iothreads and query-cpus-fast (their `thread-id` is the kernel's
 * TID, as in QEMU, for `taskset -p`), x-vmloop-stats (our counters: QEMU's
 * query-stats needs its stats schema, which we do not model),
 * query-version, query-commands, quit. Events: STOP, RESUME, RESET,
 * SHUTDOWN.
 */
import { rmSync } from 'node:fs';
import { type Server, type Socket, createServer } from 'node:net';
import type { Machine, MachineEvent } from './machine.js';

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

interface Client {
  readonly socket: Socket;
  negotiated: boolean;
  buf: string;
}

export interface QmpOptions {
  readonly path: string;
  readonly machine: Machine;
  /** `quit`: the run ends as on Ctrl-C (drain, flush, report). */
  readonly onQuit: () => void;
  /** x-vmloop-stats. */
  readonly stats: () => Promise<Json>;
}

const COMMANDS = ['qmp_capabilities', 'query-status', 'stop', 'cont', 'system_reset', 'query-iothreads', 'query-cpus-fast', 'x-vmloop-stats', 'query-version', 'query-commands', 'quit'] as const;

function timestamp(): { seconds: number; microseconds: number } {
  const us = Math.round((performance.timeOrigin + performance.now()) * 1000);
  return { seconds: Math.floor(us / 1e6), microseconds: us % 1e6 };
}

class QmpError extends Error {
  constructor(
    readonly klass: 'GenericError' | 'CommandNotFound',
    desc: string,
  ) {
    super(desc);
  }
}

/**
 * Splits a byte stream into top-level JSON values (QEMU's JSON lexer does
 * the same: input may arrive in pieces, several values per line). Returns
 * the complete values' texts and the incomplete rest.
 */
export function splitJson(input: string): { values: string[]; rest: string } {
  const values: string[] = [];
  let depth = 0;
  let inString = false;
  let escaped = false;
  let start = -1;
  for (let i = 0; i < input.length; i++) {
    const ch = input[i]!;
    if (inString) {
      if (escaped) escaped = false;
      else if (ch === '\\') escaped = true;
      else if (ch === '"') {
        inString = false;
        if (depth === 0) {
          values.push(input.slice(start, i + 1));
          start = -1;
        }
      }
      continue;
    }
    if (ch === '"') {
      inString = true;
      if (start < 0) start = i;
    } else if (ch === '{' || ch === '[') {
      if (depth === 0 && start < 0) start = i;
      depth++;
    } else if (ch === '}' || ch === ']') {
      depth--;
      if (depth <= 0) {
        values.push(input.slice(start < 0 ? i : start, i + 1));
        depth = 0;
        start = -1;
      }
    } else if (depth === 0 && ch.trim() !== '') {
      // A bare token at top level (e.g. `foo` or `42`): up to the next whitespace.
      if (start < 0) start = i;
      const next = input[i + 1];
      if (next === undefined) break;
      if (next.trim() === '' || next === '{' || next === '[') {
        values.push(input.slice(start, i + 1));
        start = -1;
      }
    }
  }
  return { values, rest: start < 0 ? '' : input.slice(start) };
}

export class QmpServer {
  private readonly server: Server;
  private readonly clients = new Set<Client>();

  private constructor(private readonly o: QmpOptions) {
    // Half-open: a client that closed its side (socat at end of input) still gets replies and events.
    this.server = createServer({ allowHalfOpen: true }, (s) => this.accept(s));
    o.machine.on((e) => this.broadcast(e));
  }

  static async listen(o: QmpOptions): Promise<QmpServer> {
    rmSync(o.path, { force: true });
    const q = new QmpServer(o);
    await new Promise<void>((resolve, reject) => {
      q.server.once('error', reject);
      q.server.listen(o.path, () => resolve());
    });
    q.server.unref();
    return q;
  }

  private accept(socket: Socket): void {
    const c: Client = { socket, negotiated: false, buf: '' };
    this.clients.add(c);
    socket.setEncoding('utf8');
    socket.unref();
    this.send(c, { QMP: { version: { qemu: { micro: 0, minor: 0, major: 9 }, package: 'vmloop-demo' }, capabilities: [] } });
    socket.on('data', (chunk: string) => {
      c.buf += chunk;
      const { values, rest } = splitJson(c.buf);
      c.buf = rest;
      for (const v of values) void this.handle(c, v);
    });
    socket.on('end', () => {
      // The client is done sending; finish what it asked, then close our side.
      setTimeout(() => socket.end(), 10_000).unref();
    });
    socket.on('close', () => this.clients.delete(c));
    socket.on('error', () => this.clients.delete(c));
  }

  private send(c: Client, v: Json): void {
    if (!c.socket.destroyed) c.socket.write(`${JSON.stringify(v)}\r\n`);
  }

  private broadcast(e: MachineEvent): void {
    const data: Json = e.event === 'RESET' || e.event === 'SHUTDOWN' ? { guest: false, reason: e.reason } : null;
    for (const c of this.clients) {
      if (!c.negotiated) continue;
      this.send(c, data === null ? { timestamp: timestamp(), event: e.event } : { timestamp: timestamp(), event: e.event, data });
    }
  }

  private async handle(c: Client, text: string): Promise<void> {
    let id: Json | undefined;
    try {
      let msg: unknown;
      try {
        msg = JSON.parse(text);
      } catch (e) {
        throw new QmpError('GenericError', `JSON parse error, ${(e as Error).message}`);
      }
      if (typeof msg !== 'object' || msg === null || Array.isArray(msg)) throw new QmpError('GenericError', 'QMP input must be a JSON object');
      const m = msg as Record<string, Json>;
      id = m.id;
      const cmd = m.execute;
      if (cmd === undefined) throw new QmpError('GenericError', "QMP input lacks member 'execute'");
      if (typeof cmd !== 'string') throw new QmpError('GenericError', "QMP input member 'execute' must be a string");
      for (const k of Object.keys(m)) if (k !== 'execute' && k !== 'arguments' && k !== 'id') throw new QmpError('GenericError', `QMP input member '${k}' is unexpected`);
      const args = m.arguments ?? {};
      if (typeof args !== 'object' || args === null || Array.isArray(args)) throw new QmpError('GenericError', "QMP input member 'arguments' must be an object");
      if (!c.negotiated && cmd !== 'qmp_capabilities') throw new QmpError('CommandNotFound', "Expecting capabilities negotiation with 'qmp_capabilities'");
      const ret = await this.run(c, cmd, args as Record<string, Json>);
      this.send(c, id === undefined ? { return: ret } : { return: ret, id });
      if (cmd === 'quit') this.o.onQuit();
    } catch (e) {
      const err = e instanceof QmpError ? e : new QmpError('GenericError', (e as Error).message);
      this.send(c, id === undefined ? { error: { class: err.klass, desc: err.message } } : { error: { class: err.klass, desc: err.message }, id });
    }
  }

  private async run(c: Client, cmd: string, args: Record<string, Json>): Promise<Json> {
    const m = this.o.machine;
    const noArgs = (): void => {
      const k = Object.keys(args)[0];
      if (k !== undefined) throw new QmpError('GenericError', `Parameter '${k}' is unexpected`);
    };
    switch (cmd) {
      case 'qmp_capabilities':
        if (c.negotiated) throw new QmpError('CommandNotFound', 'Capabilities negotiation is already complete, command ignored');
        if (args.enable !== undefined && !(Array.isArray(args.enable) && args.enable.length === 0)) throw new QmpError('GenericError', "Capability 'oob' not available");
        c.negotiated = true;
        return {};
      case 'query-status':
        noArgs();
        return { status: m.state === 'running' ? 'running' : m.state === 'paused' ? 'paused' : m.state === 'prelaunch' ? 'prelaunch' : 'shutdown', running: m.state === 'running' };
      case 'stop':
        noArgs();
        await m.stop();
        return {};
      case 'cont':
        noArgs();
        await m.cont();
        return {};
      case 'system_reset':
        noArgs();
        await m.systemReset();
        return {};
      case 'query-iothreads':
        noArgs();
        // thread-id: the kernel's, as QEMU reports it (for taskset -p); -1 where unknown.
        return (await m.queryIothreads()).map((t) => ({ id: t.id, 'thread-id': t.osThreadId ?? -1, 'poll-max-ns': t.pollMaxNs, 'poll-grow': t.pollGrow, 'poll-shrink': t.pollShrink, 'aio-max-batch': 0 }));
      case 'query-cpus-fast':
        noArgs();
        return m.vcpus.map((v) => ({ 'cpu-index': v.index, 'qom-path': `/machine/unattached/device[${v.index}]`, 'thread-id': v.osThreadId ?? -1, props: { 'socket-id': 0, 'core-id': v.index, 'thread-id': 0 } }));
      case 'x-vmloop-stats':
        noArgs();
        return this.o.stats();
      case 'query-version':
        noArgs();
        return { qemu: { micro: 0, minor: 0, major: 9 }, package: 'vmloop-demo' };
      case 'query-commands':
        noArgs();
        return COMMANDS.map((name) => ({ name }));
      case 'quit':
        noArgs();
        return {};
      default:
        throw new QmpError('CommandNotFound', `The command ${cmd} has not been found`);
    }
  }

  close(): void {
    for (const c of this.clients) c.socket.end();
    this.server.close();
    rmSync(this.o.path, { force: true });
  }
}
