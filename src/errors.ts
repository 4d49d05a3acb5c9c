/**
 * Typed errors. Every error pcpress throws is a `PcpressError` with a stable `code`,
 * so callers can branch on `err.code` or `instanceof` without parsing messages.
 */

/** Base class of every pcpress error. */
export class PcpressError extends Error {
  /** Stable machine-readable code, e.g. `'backend-unavailable'`. */
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** A backend that was asked for cannot start; `cause` says why. */
export class BackendUnavailableError extends PcpressError {
  /** The backend that could not start. */
  readonly backend: string;
  constructor(backend: string, message: string, options?: { cause?: unknown }) {
    super('backend-unavailable', `${backend} backend unavailable: ${message}`, options);
    this.backend = backend;
  }
}

/** The GPU device was lost; create a new runtime to continue. */
export class DeviceLostError extends PcpressError {
  /** `reason` from GPUDeviceLostInfo (`'destroyed'` or `'unknown'`). */
  readonly reason: string;
  constructor(reason: string, message: string) {
    super('device-lost', `WebGPU device lost (${reason}): ${message || 'no message'}. Create a new runtime with createRuntime().`);
    this.reason = reason;
  }
}

/** The runtime (or a tensor) was used after destroy()/dispose(). */
export class DisposedError extends PcpressError {
  constructor(what: string) {
    super('disposed', `${what} was used after it was destroyed`);
  }
}

/** Input failed validation before any kernel ran. */
export class ValidationError extends PcpressError {
  constructor(code: string, message: string) {
    super(code, message);
  }
}

/** A shape or length does not match what the op expects. */
export class ShapeError extends ValidationError {
  constructor(message: string) {
    super('shape', message);
  }
}

/** An input has the wrong element type. */
export class DTypeError extends ValidationError {
  constructor(message: string) {
    super('dtype', message);
  }
}

/** A size is not a valid (non-negative / positive) integer, or an option is out of range. */
export class ArgumentError extends ValidationError {
  constructor(message: string) {
    super('argument', message);
  }
}

/** A size exceeds what the backend or device can hold. */
export class LimitError extends ValidationError {
  constructor(message: string) {
    super('limit', message);
  }
}

/** The GPU reported an error (validation or out-of-memory) while running an op. */
export class GpuError extends PcpressError {
  constructor(message: string) {
    super('gpu', message);
  }
}
