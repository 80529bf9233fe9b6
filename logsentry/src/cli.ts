/**
 * `logsentry` — Logcheck-compatible log reports. Not built yet: the command says so and exits 69 (EX_UNAVAILABLE), so the
 * supervisor and systemd (RestartPreventExitStatus=69) leave it stopped instead of pretending.
 */
import { EXIT } from '@trisentry/shared';

/** Runs the command line; resolves with the exit status. */
export async function main(argv: readonly string[]): Promise<number> {
  if (argv.includes('-h') || argv.includes('--help')) {
    process.stdout.write('usage: logsentry ...\nlogsentry (Logcheck-compatible log reports) is not available in this build yet.\n');
    return EXIT.OK;
  }
  process.stderr.write('logsentry: not available in this build yet (Logcheck-compatible log reports is being built); exiting 69\n');
  return EXIT.UNAVAILABLE;
}
