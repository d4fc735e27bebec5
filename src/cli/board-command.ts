// `taskfleet board`: Bull Board over every taskfleet queue (authentication comes with `taskfleet server`).
import type { Command } from 'commander';
import { createLogger } from '../logger.js';
import { MIGRATE_QUEUE } from '../queue/queue-names.js';
import { positiveInt, settingsFrom, withConnectionOptions, type ConnectionFlags } from './common-options.js';

export function registerBoardCommand(program: Command): void {
  withConnectionOptions(program.command('board'))
    .description('Serve Bull Board over the taskfleet queues (no authentication yet: binds to 127.0.0.1 unless --host)')
    .option('--port <port>', 'port to listen on', positiveInt, 3000)
    .option('--host <host>', 'address to bind', '127.0.0.1')
    .action(async (flags: ConnectionFlags & { port: number; host: string }) => {
      const settings = settingsFrom(flags);
      const logger = createLogger(settings.logLevel, { role: 'board' });
      // Loaded on use: Express and Bull Board are heavy, and other commands (the producer) stay lean.
      const { startBoardServer } = await import('../server/board.js');
      const board = await startBoardServer(settings, [MIGRATE_QUEUE], { port: flags.port, host: flags.host });
      process.stdout.write(`Bull Board: ${board.url}\n`);
      logger.info({ url: board.url }, 'Bull Board is up');
      await new Promise<void>((resolve) => {
        const stop = () => { board.close().then(resolve, resolve); };
        process.once('SIGTERM', stop);
        process.once('SIGINT', stop);
      });
    });
}
