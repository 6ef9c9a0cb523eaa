export { VirtioError, type VirtioErrorCode } from './errors.js';
