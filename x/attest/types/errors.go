package types

import errorsmod "cosmossdk.io/errors"

// x/attest errors. Codes are part of the API: never renumber them.
var (
	ErrInvalidParams      = errorsmod.Register(ModuleName, 2, "invalid params")
	ErrInvalidAuthority   = errorsmod.Register(ModuleName, 3, "signer is not the governance authority")
	ErrInvalidAddress     = errorsmod.Register(ModuleName, 4, "invalid address")
	ErrChallengeNotFound  = errorsmod.Register(ModuleName, 5, "challenge not found or closed")
	ErrNotYourChallenge   = errorsmod.Register(ModuleName, 6, "challenge belongs to another hoster")
	ErrMalformedAnswer    = errorsmod.Register(ModuleName, 7, "malformed answer")
	ErrProofTooLarge      = errorsmod.Register(ModuleName, 8, "proof too large")
	ErrTooManyAnswers     = errorsmod.Register(ModuleName, 9, "too many answers in one message")
	ErrDuplicateAnswer    = errorsmod.Register(ModuleName, 10, "challenge answered twice in one message")
	ErrCheckNotFound      = errorsmod.Register(ModuleName, 11, "check not found or closed")
	ErrNotAttestor        = errorsmod.Register(ModuleName, 12, "signer is not an attestor of this check")
	ErrAlreadyReported    = errorsmod.Register(ModuleName, 13, "attestor already reported on this check")
	ErrInvalidGenesis     = errorsmod.Register(ModuleName, 14, "invalid genesis state")
	ErrNoAnswers          = errorsmod.Register(ModuleName, 15, "no answers")
	ErrInvalidAttestation = errorsmod.Register(ModuleName, 16, "invalid attestation")
)
