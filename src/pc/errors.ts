// Typed errors of the image codec (probabilistic-circuit compression).
import { PcpressError } from '../errors.js';

/** A compressed stream does not decode: corrupt, cut short, or not a pcpress stream at all. */
export class CorruptDataError extends PcpressError {
  constructor(message: string, code = 'corrupt-data') {
    super(code, message);
  }
}

/** A compressed stream ends before its declared content (a length field points past the end). */
export class TruncatedDataError extends CorruptDataError {
  constructor(message: string) {
    super(message, 'truncated-data');
  }
}

/** A stream in a format this version refuses: format 1 (pcpress 0.1.0) carries no integrity check. */
export class FormatVersionError extends CorruptDataError {
  constructor(message: string) {
    super(message, 'format-version');
  }
}

/** A compressed stream was made with a different model than the one given to decode it. */
export class WrongModelError extends PcpressError {
  /** Model id recorded in the stream (as many bits as the stream stores). */
  readonly streamModel: string;
  /** Id of the model that was given. */
  readonly givenModel: string;
  constructor(streamModel: string, givenModel: string, message: string) {
    super('wrong-model', message);
    this.streamModel = streamModel;
    this.givenModel = givenModel;
  }
}

/** A model file is malformed, truncated, fails its content hash, or has an unsupported version. */
export class ModelFormatError extends PcpressError {
  constructor(message: string) {
    super('model-format', message);
  }
}

/** An image file (PNG/PGM) cannot be read, or uses a pixel format the codec does not handle. */
export class ImageFormatError extends PcpressError {
  constructor(message: string) {
    super('image-format', message);
  }
}
