/**
 * The floor: a raw node:net TCP echo, bytes straight back, no HTTP and no framing. No Node
 * WebSocket server can answer faster than this one does with the same bytes.
 */
import { createServer } from 'node:net';
import { listenArgs } from './args.js';

const server = createServer({ noDelay: true }, (socket) => {
  socket.on('data', (chunk) => socket.write(chunk));
  socket.on('error', () => socket.destroy());
});
const { port, host } = listenArgs(process.argv.slice(2));
server.listen(port, host);
process.on('SIGTERM', () => process.exit(0));
