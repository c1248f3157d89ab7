/**
 * One progress bar per scenario on stderr (only when stderr is a terminal), counting the scenario's phases.
 * Lines the scenario prints go through `log`, which writes above the bar instead of through it.
 */
import { MultiBar, Presets, type SingleBar } from 'cli-progress';

export interface Progress {
  /** A line of output (above the bar on a terminal). */
  log(line: string): void;
  /** One phase done; `label` says what runs next. */
  tick(label?: string): void;
  /** Says what is running now without counting a phase. */
  label(label: string): void;
  stop(): void;
}

export function startProgress(scenario: string, phases: number, first = ''): Progress {
  if (!process.stderr.isTTY) {
    return { log: (line) => console.log(line), tick: () => {}, label: () => {}, stop: () => {} };
  }
  const multi = new MultiBar(
    {
      stream: process.stderr,
      format: `${scenario} [{bar}] {value}/{total} phases · {eta_formatted} left · {step}`,
      hideCursor: true,
      clearOnComplete: true,
      etaBuffer: 4,
    },
    Presets.shades_classic,
  );
  const bar: SingleBar = multi.create(phases, 0, { step: first });
  return {
    log: (line) => multi.log(`${line}\n`),
    tick: (label) => bar.increment(1, label === undefined ? {} : { step: label }),
    label: (label) => bar.update({ step: label }),
    stop: () => multi.stop(),
  };
}
