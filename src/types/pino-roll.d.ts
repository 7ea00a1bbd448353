// pino-roll ships no types; this is the part of its API we use.
declare module 'pino-roll' {
  import type { DestinationStream } from 'pino';
  interface PinoRollOptions {
    file: string;
    size?: string | number;
    frequency?: 'daily' | 'hourly' | number;
    extension?: string;
    symlink?: boolean;
    mkdir?: boolean;
    sync?: boolean;
    mode?: number;
    limit?: { count?: number; removeOtherLogFiles?: boolean };
  }
  export default function build(options: PinoRollOptions): Promise<DestinationStream>;
}
