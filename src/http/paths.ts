/**
 * Absolute server paths go to the log and to the authenticated admin routes only. Everything else a client
 * reads (version status, error answers) names files relative to the root they sit under:
 *   1. a model's base path, so a failed version reads `3/model.json`, as the operator laid it out;
 *   2. a fixed model's directory;
 *   3. the working directory, the package, the home and temporary directories, for anything else (a
 *      module source, a stack frame in a crash message).
 * Longer roots are tried first, so a base path under the working directory is relative to itself.
 */
import { homedir, tmpdir } from 'node:os';
import { dirname, isAbsolute } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { ModelSource } from '../protocol/session-messages.js';
import type { HttpModelConfig } from './model-config.js';

const packageRoot = fileURLToPath(new URL('../../', import.meta.url));

/** The directory a fixed model source's files are named from, if it is a local file. */
function sourceRoot(source: ModelSource | undefined): string | null {
  const local = typeof source === 'string' ? source : source !== undefined && 'module' in source ? source.module : null;
  if (local === null) return null;
  const path = local.startsWith('file:') ? fileURLToPath(local) : local;
  if (!isAbsolute(path)) return null;
  return /\.(json|onnx|[cm]?[jt]s)$/.test(path) ? dirname(path) : path;
}

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

export class PathRedactor {
  /** One pattern per root (its path and its file: URL), longest first; a match ending in a separator is dropped, a bare root becomes ".". */
  readonly #patterns: RegExp[];

  constructor(models: readonly HttpModelConfig[]) {
    const roots = new Set<string>();
    for (const model of models) {
      const root = model.basePath ?? sourceRoot(model.model);
      if (root !== null && isAbsolute(root)) roots.add(root.replace(/[\\/]+$/, ''));
    }
    for (const root of [process.cwd(), packageRoot, homedir(), tmpdir()])
      if (isAbsolute(root) && root.length > 1) roots.add(root.replace(/[\\/]+$/, ''));
    this.#patterns = [...roots]
      .sort((a, b) => b.length - a.length)
      // Not inside a longer path or a URL: /other/srv/m or http://host/srv/m are not /srv/m.
      .map(
        (root) =>
          new RegExp(
            `(?<![\\w.:/\\\\-])(?:${escapeRegExp(pathToFileURL(root).href)}|${escapeRegExp(root)})(?:[\\/]|(?![\\w.-]))`,
            'g',
          ),
      );
  }

  /** `text` with every absolute path under a known root made relative to it. */
  redact(text: string): string {
    return this.#patterns.reduce(
      (out, pattern) => out.replace(pattern, (match) => (/[\\/]$/.test(match) ? '' : '.')),
      text,
    );
  }
}
