/**
 * `olympian serve --config olympian.json`: reads and checks the configuration file, starts the HTTP front
 * (and the gRPC one, with `grpcPort`), and drains both on SIGINT/SIGTERM: readiness turns false at once, requests already received are answered within
 * `limits.shutdownGraceMs` (connections owed nothing are dropped), then the sessions close. A second signal
 * ends it now: queued work fails with UNAVAILABLE, every connection drops. This is the command's, not the
 * library's: it installs signal handlers and may end the process.
 */
import type { LogStream } from '../http/app.js';
import { loadServeConfig } from '../http/config-file.js';
import { startHttpServer, type HttpServer } from '../http/http-server.js';
import { defaultLimits } from '../http/limits.js';

export interface ServeOptions {
  /** Path of the configuration file (JSON). */
  config: string;
  /** Override the file's host, port and gRPC port (the CLI's --host, --port and --grpc-port). */
  host?: string;
  port?: number;
  grpcPort?: number;
  /** Override the file's log level (fatal, error, warn, info, debug, trace, silent). */
  logLevel?: string;
  /** Drain and close on SIGINT and SIGTERM (default true). */
  handleSignals?: boolean;
  /** Where log lines go (default stdout). */
  logStream?: LogStream;
}

export interface RunningServe {
  readonly url: string;
  readonly http: HttpServer;
  /** Settles once the server has closed, after a signal or close(). */
  readonly closed: Promise<void>;
  close(options?: { drain?: boolean }): Promise<void>;
}

/** How long a close may run past its grace (or past a second signal) before the process exits regardless. */
const kForceExitMs = 2000;

/** Starts serving as the file says; resolves once listening. */
export async function runServe(options: ServeOptions): Promise<RunningServe> {
  const config = await loadServeConfig(options.config);
  if (options.host !== undefined) config.host = options.host;
  if (options.port !== undefined) config.port = options.port;
  if (options.grpcPort !== undefined) config.grpcPort = options.grpcPort;
  const level = options.logLevel ?? (config.logger ? config.logger.level : undefined) ?? 'info';
  config.logger = { level, ...(options.logStream ? { stream: options.logStream } : {}) };
  const http = await startHttpServer(config);
  const log = http.app.log;
  log.info(
    { url: http.url, grpc: http.grpc?.target ?? null, models: http.models.names, policy: http.server.stats().policy },
    'olympian serving',
  );

  let settle: () => void = () => {};
  const closed = new Promise<void>((resolve) => (settle = resolve));
  let closing: Promise<void> | undefined;
  let signals = 0;
  const graceMs = config.limits?.shutdownGraceMs ?? defaultLimits.shutdownGraceMs;
  // The close hurries itself at the end of the grace; this is for a close that cannot finish even then.
  const exitBy = (ms: number) =>
    setTimeout(() => {
      log.error({ afterMs: ms }, 'the close did not finish in time: exiting');
      process.exit(1);
    }, ms).unref();
  const onSignal = (signal: NodeJS.Signals) => {
    signals++;
    if (signals === 1) log.info({ signal, graceMs }, 'draining: answering requests already received, then closing');
    else log.info({ signal }, 'second signal: closing now');
    exitBy(signals === 1 ? graceMs + kForceExitMs : kForceExitMs);
    close({ drain: signals === 1 }).catch(() => {
      process.exitCode = 1;
    });
  };
  const close = ({ drain = true }: { drain?: boolean } = {}): Promise<void> => {
    const done = http.close({ drain });
    closing ??= done
      .then(
        () => log.info('closed'),
        (error: unknown) => {
          log.error({ err: error }, 'close failed');
          throw error;
        },
      )
      .finally(() => {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
        settle();
      });
    return closing;
  };
  if (options.handleSignals ?? true) {
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  }
  return { url: http.url, http, closed, close };
}
