/**
 * The attacker: a process of its own, started by bench/abuse/run.ts for one attack. It says
 * `ready` once loaded, runs the attack it is sent (attacks.ts), reports what the attacking
 * connections got, and exits.
 */
import { ATTACKS } from './attacks.js';
import type { AttackerCommand, AttackerMessage } from './plan.js';

function finish(message: AttackerMessage): void {
  // Exit once the message is handed to the channel: sockets still closing must not keep us alive.
  process.send?.(message, () => process.exit(message.type === 'outcome' ? 0 : 1));
}

if (process.send === undefined) {
  process.stderr.write('bench/abuse/attacker: run me from bench/abuse/run.js (I take an attack over IPC)\n');
  process.exit(2);
}

process.on('uncaughtException', (error) => finish({ type: 'error', message: error.stack ?? error.message }));
process.on('message', (command: AttackerCommand) => {
  ATTACKS[command.spec.name](command.spec, { host: command.host, port: command.port }).then(
    (outcome) => finish({ type: 'outcome', outcome }),
    (error: unknown) => finish({ type: 'error', message: error instanceof Error ? (error.stack ?? error.message) : String(error) }),
  );
});
process.send({ type: 'ready' } satisfies AttackerMessage);
