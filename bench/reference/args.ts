/** `--port N --host ADDR` for the reference servers (loopback by default). */
export function listenArgs(argv: readonly string[]): { port: number; host: string } {
  let port = 0;
  let host = '127.0.0.1';
  for (let i = 0; i < argv.length; i += 2) {
    if (argv[i] === '--port') port = Number(argv[i + 1]);
    else if (argv[i] === '--host') host = argv[i + 1];
    else throw new Error(`unknown argument ${argv[i]}`);
  }
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error('--port must be 0-65535');
  return { port, host };
}
