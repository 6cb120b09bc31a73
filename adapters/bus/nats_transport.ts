/**
 * The TCP transport under the NATS client, made safe against a server that resets a connection.
 *
 * The client's Node transport removes all socket listeners between its handshake steps (after the
 * TCP connect, after the server's INFO), and once on a timed-out handshake never closes the socket.
 * A reset (`ECONNRESET`) that lands in such a gap is an `error` event nobody listens to, which ends
 * the whole process: a worker or server would die because its NATS server restarted at the wrong
 * moment. {@link GuardedNatsTransport} keeps one listener on every socket for its whole life, turns
 * a socket that died in a gap into an ordinary disconnect (so the client reconnects), and closes
 * the socket of a handshake that timed out. {@link connectGuarded} connects through it.
 *
 * @module
 */

import { createConnection, type Socket } from "node:net";
import type { TLSSocket } from "node:tls";
import {
  type ConnectionOptions,
  type NatsConnection,
  NatsConnectionImpl,
  type ServerInfo,
  setTransportFactory,
} from "@nats-io/transport-node";
import { nodeResolveHost, NodeTransport } from "@nats-io/transport-node/lib/node_transport.js";

/** What the guard remembers of a socket: the last error it saw. */
const lastError = Symbol("autopgo.lastSocketError");

type GuardedSocket = Socket & { [lastError]?: Error };

/**
 * Keeps an `error` listener on `socket` for its whole life, even across `removeAllListeners()`,
 * remembering the error. The socket still closes itself after an error; only the process-ending
 * "unhandled error event" is prevented.
 */
export function guardSocket<S extends Socket>(socket: S): S {
  const guarded = socket as S & GuardedSocket;
  const remember = (error: Error) => {
    guarded[lastError] = error;
  };
  socket.on("error", remember);
  const removeAll = socket.removeAllListeners;
  // Assigning on the instance leaves every other socket untouched.
  socket.removeAllListeners = function (this: S, ...event: [string | symbol] | []) {
    removeAll.apply(this, event);
    if (event.length === 0 || event[0] === "error") this.on("error", remember);
    return this;
  };
  return socket;
}

/** The client's Node transport with every socket guarded (see the module documentation). */
export class GuardedNatsTransport extends NodeTransport {
  /** Dials like the client does, with the guard on from the socket's first moment. */
  override dial(hp: { hostname: string; port: number }): Promise<Socket> {
    return new Promise((resolve, reject) => {
      const socket = guardSocket(createConnection(hp.port, hp.hostname));
      const connected = () => {
        socket.off("close", failed);
        resolve(socket);
      };
      const failed = () => {
        socket.off("connect", connected);
        reject((socket as GuardedSocket)[lastError] ?? new Error(`connection to ${hp.hostname}:${hp.port} closed`));
      };
      socket.once("connect", connected);
      socket.once("close", failed);
      socket.setNoDelay(true);
    });
  }

  /** Fails at once when the socket died between the TCP connect and this step. */
  override peekInfo(): Promise<ServerInfo> {
    const died = this.#died();
    return died ? Promise.reject(died) : super.peekInfo();
  }

  /** Turns a socket that died before its handlers were attached into a normal disconnect. */
  override setupHandlers(): void {
    super.setupHandlers();
    const died = this.#died();
    // `_closed(err, internal)` is the transport's own end-of-connection path (private in its types).
    const closed = (this as unknown as { _closed(err: Error, internal: boolean): Promise<void> })._closed;
    if (died) queueMicrotask(() => void closed.call(this, died, false));
  }

  /** Upgrades to TLS and guards the new socket. */
  override async startTLS(): Promise<TLSSocket> {
    return guardSocket(await super.startTLS());
  }

  /** Connects TLS-first and guards the socket. */
  override async tlsFirst(hp: { hostname: string; port: number }): Promise<TLSSocket> {
    return guardSocket(await super.tlsFirst(hp));
  }

  /** Also closes the socket of a handshake that never completed (the client leaves it open). */
  override close(err?: Error): Promise<void> {
    if (!this.connected) {
      this.discard();
      return Promise.resolve();
    }
    return super.close(err);
  }

  /** The error (or a stand-in) of a socket that is already destroyed; undefined while it lives. */
  #died(): Error | undefined {
    const socket = this.socket as GuardedSocket | undefined;
    if (!socket?.destroyed) return undefined;
    return socket[lastError] ?? new Error("the connection closed during the NATS handshake");
  }
}

/** `connect` of `@nats-io/transport-node`, over {@link GuardedNatsTransport}. */
export function connectGuarded(options: ConnectionOptions): Promise<NatsConnection> {
  setTransportFactory({ factory: () => new GuardedNatsTransport(), dnsResolveFn: nodeResolveHost });
  return NatsConnectionImpl.connect(options);
}
