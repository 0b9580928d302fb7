/**
 * JSON logs (pino). Card data never reaches a log line: log calls carry masked PANs only,
 * and the paths below are redacted as a safety net.
 */
import { pino, type Logger } from 'pino';

export const REDACTED_PATHS = [
  'pan',
  'track2',
  'pinBlock',
  'pin',
  'token',
  'code',
  'securityPin',
  'de48',
  '*.pan',
  '*.track2',
  '*.pinBlock',
  '*.pin',
  '*.token',
  '*.code',
  '*.securityPin',
  '*.de48',
  'fields["2"]',
  'fields["35"]',
  'fields["52"]',
  'fields["48"]',
  '*.fields["2"]',
  '*.fields["35"]',
  '*.fields["52"]',
  '*.fields["48"]',
];

export function createLogger(name: string, level: string, destination?: pino.DestinationStream): Logger {
  return pino({ name, level, redact: { paths: REDACTED_PATHS, censor: '[redacted]' }, base: { service: name } }, destination);
}
