export * from './errors.js';
export * from './retail-mac.js';
