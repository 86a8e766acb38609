/** The HTTP floor: a bare node:http handler that answers every request 202 with no body. */
import { createServer } from 'node:http';
import { listenArgs } from './args.js';

const ACCEPTED = 202;

const server = createServer((_request, response) => {
  response.writeHead(ACCEPTED, { 'content-length': '0' });
  response.end();
});
const { port, host } = listenArgs(process.argv.slice(2));
server.listen(port, host);
process.on('SIGTERM', () => process.exit(0));
