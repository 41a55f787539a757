package attest

import (
	autocliv1 "cosmossdk.io/api/cosmos/autocli/v1"
)

// AutoCLIOptions describes the query and tx commands AutoCLI builds.
func (AppModule) AutoCLIOptions() *autocliv1.ModuleOptions {
	return &autocliv1.ModuleOptions{
		Query: &autocliv1.ServiceCommandDescriptor{
			Service: "datdot.attest.v1.Query",
			RpcCommandOptions: []*autocliv1.RpcCommandOptions{
				{RpcMethod: "Params", Use: "params", Short: "Show the attest module parameters"},
				{
					RpcMethod: "Challenge", Use: "challenge [id]", Short: "Show an open storage challenge",
					PositionalArgs: []*autocliv1.PositionalArgDescriptor{{ProtoField: "id"}},
				},
				{RpcMethod: "Challenges", Use: "challenges", Short: "List all open storage challenges"},
				{
					RpcMethod: "ChallengesByHoster", Use: "challenges-by-hoster [hoster]", Short: "List the open challenges of a hoster",
					PositionalArgs: []*autocliv1.PositionalArgDescriptor{{ProtoField: "hoster"}},
				},
				{
					RpcMethod: "ChallengesByOrder", Use: "challenges-by-order [order-id]", Short: "List the open challenges of an order",
					PositionalArgs: []*autocliv1.PositionalArgDescriptor{{ProtoField: "order_id"}},
				},
				{
					RpcMethod: "HosterRecord", Use: "record [hoster]", Short: "Show a hoster's record: passes, faults, slashed, reputation, attestations",
					PositionalArgs: []*autocliv1.PositionalArgDescriptor{{ProtoField: "hoster"}},
				},
				{
					RpcMethod: "Check", Use: "check [id]", Short: "Show an open performance check",
					PositionalArgs: []*autocliv1.PositionalArgDescriptor{{ProtoField: "id"}},
				},
				{
					RpcMethod: "ChecksByAttestor", Use: "checks-by-attestor [attestor]", Short: "List the open checks an attestor must report on",
					PositionalArgs: []*autocliv1.PositionalArgDescriptor{{ProtoField: "attestor"}},
				},
				{RpcMethod: "Pool", Use: "pool", Short: "Show the attestation pool that pays attestor fees"},
			},
		},
		Tx: &autocliv1.ServiceCommandDescriptor{
			Service: "datdot.attest.v1.Msg",
			RpcCommandOptions: []*autocliv1.RpcCommandOptions{
				{
					RpcMethod: "SubmitProofs",
					Use:       "submit-proofs [answers-json]",
					Short:     "Answer open storage challenges of the signer",
					Long: "answers-json is a JSON list of {\"challenge_id\": \"7\", \"proofs\": [\"<base64>\", ...]}, one proof per " +
						"challenged index in order (datdot core prove writes it).",
					Example:        `submit-proofs '[{"challenge_id":"7","proofs":["AAEC..."]}]' --from hoster1`,
					PositionalArgs: []*autocliv1.PositionalArgDescriptor{{ProtoField: "answers", Varargs: true}},
				},
				{
					RpcMethod: "SubmitAttestation",
					Use:       "submit-attestation [check-id] [ok] [latency-ms] [throughput-bps]",
					Short:     "Report on a performance check the signer was assigned to",
					PositionalArgs: []*autocliv1.PositionalArgDescriptor{
						{ProtoField: "check_id"}, {ProtoField: "ok"}, {ProtoField: "latency_ms"}, {ProtoField: "throughput_bps"},
					},
				},
				{RpcMethod: "UpdateParams", Skip: true}, // governance only
			},
		},
	}
}
