/**
 * The device a profile was made on. Costs only carry over to the same backend build on the same CPU model
 * with the same backend features (SIMD, threads) and the same TF.js kernels, so those are what the
 * fingerprint holds; on webgpu the flags also name the GPU adapter (vendor, architecture, description),
 * whose kernels are what is timed. `id` is a short stable name derived from them, used as the profile
 * folder's name.
 */
import { createHash } from 'node:crypto';
import { cpus } from 'node:os';
import * as tf from '../device/tfjs.js';
import type { BackendInfo } from '../protocol/session-messages.js';
import { backendInfoOf, probeWebgpu } from '../device/webgpu.js';

export interface DeviceFingerprint {
  /**
   * `<backend>[-simd][-mt]-<8 hex>` (webgpu: `webgpu-<vendor>-<8 hex>`): readable at a glance, unique by the
   * hash of everything below.
   */
  id: string;
  backend: string;
  flags: Record<string, boolean | number | string>;
  cpu: string;
  tfjs: string;
}

export type FingerprintParts = Omit<DeviceFingerprint, 'id'>;

/** Key order fixed and flags sorted, so the same device always hashes the same. */
function canonical(parts: FingerprintParts): string {
  const flags = Object.keys(parts.flags)
    .sort()
    .map((key) => [key, parts.flags[key]]);
  return JSON.stringify([parts.backend, flags, parts.cpu, parts.tfjs]);
}

export function fingerprintId(parts: FingerprintParts): string {
  const hash = createHash('sha1').update(canonical(parts)).digest('hex').slice(0, 8);
  const simd = parts.flags.simd === true ? '-simd' : '';
  const threads = parts.flags.threads === true ? '-mt' : '';
  const vendor =
    typeof parts.flags.vendor === 'string'
      ? parts.flags.vendor
          .toLowerCase()
          .replace(/[^a-z0-9]+/g, '-')
          .replace(/^-|-$/g, '')
          .slice(0, 16)
      : '';
  return `${parts.backend}${simd}${threads}${vendor ? `-${vendor}` : ''}-${hash}`;
}

export function makeFingerprint(parts: FingerprintParts): DeviceFingerprint {
  const cpu = parts.cpu.replace(/\s+/g, ' ').trim();
  const clean = { backend: parts.backend, flags: { ...parts.flags }, cpu, tfjs: parts.tfjs };
  return { id: fingerprintId(clean), ...clean };
}

const cpuModel = () => cpus()[0]?.model ?? 'unknown';

/** From what `initBackend` reported (its flags carry the tfjs version, which the fingerprint keeps apart). */
export function fingerprintFromBackend(info: BackendInfo): DeviceFingerprint {
  const { tfjs, ...flags } = info.flags;
  return makeFingerprint({ backend: info.name, flags, cpu: cpuModel(), tfjs: String(tfjs ?? tf.version_core) });
}

/** The fingerprint of the backend TF.js is using now (after `initBackend`). */
export async function currentFingerprint(): Promise<DeviceFingerprint> {
  const backend = tf.getBackend();
  // The same flags initBackend reports, so both ways to a fingerprint give the same id.
  if (backend === 'webgpu') return fingerprintFromBackend(backendInfoOf(await probeWebgpu()));
  const flags: DeviceFingerprint['flags'] = {};
  if (backend === 'wasm') {
    flags.simd = Boolean(await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT'));
    flags.threads = Boolean(await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT'));
  }
  return makeFingerprint({ backend, flags, cpu: cpuModel(), tfjs: tf.version_core });
}

/** Null when both describe the same device; otherwise what differs, for a warning. */
export function describeMismatch(profiled: DeviceFingerprint, running: DeviceFingerprint): string | null {
  if (profiled.id === running.id && canonical(profiled) === canonical(running)) return null;
  const diffs: string[] = [];
  if (profiled.backend !== running.backend) diffs.push(`backend ${profiled.backend} ≠ ${running.backend}`);
  if (profiled.cpu !== running.cpu) diffs.push(`cpu "${profiled.cpu}" ≠ "${running.cpu}"`);
  if (profiled.tfjs !== running.tfjs) diffs.push(`tfjs ${profiled.tfjs} ≠ ${running.tfjs}`);
  const keys = new Set([...Object.keys(profiled.flags), ...Object.keys(running.flags)]);
  for (const key of [...keys].sort()) {
    if (profiled.flags[key] !== running.flags[key])
      diffs.push(`${key} ${String(profiled.flags[key])} ≠ ${String(running.flags[key])}`);
  }
  return diffs.length > 0 ? diffs.join(', ') : `id ${profiled.id} ≠ ${running.id}`;
}

/** Backends whose kernels finish before they return, so a kernel's wall-clock time is its device time. */
export const isSynchronousBackend = (backend: string) => backend === 'wasm' || backend === 'cpu';
