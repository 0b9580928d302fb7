export * from './errors.js';
export * from './retail-mac.js';
export * from './aes-cmac.js';
export * from './pin-block.js';
export * from './keys.js';
export * from './message-mac.js';
