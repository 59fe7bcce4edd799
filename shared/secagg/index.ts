// Secure aggregation (SecAgg+): transport-independent state machines and the crypto under them.
export {
  SecAggClient,
  type ClientAudit,
  type ClientPhase,
  type LocalUpdate,
  type SecAggClientOptions,
} from './client.js';
export {
  SecAggServer,
  type ActivePhase,
  type Dropout,
  type SecAggResult,
  type SecAggServerOptions,
  type ServerAudit,
  type ServerPhase,
  type ServerStep,
} from './server.js';
export { createSetup, roundContext, type DerivedSetup, type SetupOptions } from './round.js';
export {
  activeCollusionBound,
  DEFAULT_ASSUMPTIONS,
  defaultGraphParams,
  minimumThreshold,
  resolveGraphParams,
  type GraphParams,
  type SecAggAssumptions,
} from './params.js';
export {
  aggregateErrorBound,
  clientWeight,
  decodeSum,
  encodeUpdate,
  fixedPointScale,
  maskedInputBytes,
  packMaskedWords,
  widenMaskedWords,
  wordBitsFor,
  type DecodedAggregate,
  type EncodingParams,
} from './encoding.js';
export { generateIdentity, IdentityPins, type IdentityKeyPair } from './identity.js';
export { TASK_DIGEST_BYTES, taskDigest } from './task-digest.js';
export { defaultKeystream, nodeKeystream, webCryptoKeystream, type Keystream } from './keystream.js';
export { SecAggMessageError, SecAggRefusal } from './errors.js';
export {
  AdvertiseKeysMessageSchema,
  ConsistencyMessageSchema,
  ConsistencyRequestMessageSchema,
  MaskedInputMessageSchema,
  PeerKeysMessageSchema,
  RefusalMessageSchema,
  RoutedSharesMessageSchema,
  SecAggClientMessageSchema,
  SecAggServerMessageSchema,
  SecAggSetupSchema,
  ShareKeysMessageSchema,
  UnmaskMessageSchema,
  UnmaskRequestMessageSchema,
  wireBytes,
  type AdvertiseKeysMessage,
  type ConsistencyMessage,
  type ConsistencyRequestMessage,
  type MaskedInputMessage,
  type PeerKeysMessage,
  type RefusalMessage,
  type RoutedSharesMessage,
  type SecAggClientMessage,
  type SecAggServerMessage,
  type SecAggSetup,
  type ShareKeysMessage,
  type UnmaskMessage,
  type UnmaskRequestMessage,
} from './messages.js';
