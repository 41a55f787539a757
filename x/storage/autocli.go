package storage

import (
	autocliv1 "cosmossdk.io/api/cosmos/autocli/v1"
)

// AutoCLIOptions describes the query and tx commands AutoCLI builds.
// place-order and extend-order are hand-written (client/cli) because they
// read cores from JSON; AutoCLI adds the rest to that command.
func (AppModule) AutoCLIOptions() *autocliv1.ModuleOptions {
	return &autocliv1.ModuleOptions{
		Query: &autocliv1.ServiceCommandDescriptor{
			Service: "datdot.storage.v1.Query",
			RpcCommandOptions: []*autocliv1.RpcCommandOptions{
				{RpcMethod: "Params", Use: "params", Short: "Show the storage module parameters"},
				{
					RpcMethod: "Hoster", Use: "hoster [address]", Short: "Show a hoster, its free capacity and accrued unsettled pay",
					PositionalArgs: []*autocliv1.PositionalArgDescriptor{{ProtoField: "address"}},
				},
				{RpcMethod: "Hosters", Use: "hosters", Short: "List hosters"},
				{
					RpcMethod: "Order", Use: "order [id]", Short: "Show an order, its assignments and accrued unsettled pay",
					PositionalArgs: []*autocliv1.PositionalArgDescriptor{{ProtoField: "id"}},
				},
				{
					RpcMethod: "OrdersByOwner", Use: "orders-by-owner [owner]", Short: "List the orders of an owner",
					PositionalArgs: []*autocliv1.PositionalArgDescriptor{{ProtoField: "owner"}},
				},
				{
					RpcMethod: "AssignmentsByHoster", Use: "assignments-by-hoster [hoster]", Short: "List the slots a hoster holds",
					PositionalArgs: []*autocliv1.PositionalArgDescriptor{{ProtoField: "hoster"}},
				},
				{
					RpcMethod: "AssignmentsByOrder", Use: "assignments-by-order [order-id]", Short: "List the slots of an order",
					PositionalArgs: []*autocliv1.PositionalArgDescriptor{{ProtoField: "order_id"}},
				},
				{
					RpcMethod: "CoreHolders", Use: "core-holders [key-hex]", Short: "List the hosters of a core (by key) with their replication addresses, and the peers its orders name",
					PositionalArgs: []*autocliv1.PositionalArgDescriptor{{ProtoField: "key"}},
				},
				{
					RpcMethod: "OrdersByCore", Use: "orders-by-core [key-hex]", Short: "List the orders naming a core (by key), live or ended until pruned",
					PositionalArgs: []*autocliv1.PositionalArgDescriptor{{ProtoField: "key"}},
				},
			},
		},
		Tx: &autocliv1.ServiceCommandDescriptor{
			Service:              "datdot.storage.v1.Msg",
			EnhanceCustomCommand: true,
			RpcCommandOptions: []*autocliv1.RpcCommandOptions{
				{
					RpcMethod: "RegisterHoster",
					Use:       "register-hoster [stake] [capacity-bytes] [endpoint] [region] [price-per-gib-epoch]",
					Short:     "Register the signer as a hoster, escrowing its stake",
					Example:   "register-hoster 1000000stake 10737418240 https://hoster.example:8443 eu-west 100 --from alice",
					PositionalArgs: []*autocliv1.PositionalArgDescriptor{
						{ProtoField: "stake"}, {ProtoField: "capacity"}, {ProtoField: "endpoint"},
						{ProtoField: "region"}, {ProtoField: "price_per_gib_epoch"},
					},
				},
				{
					RpcMethod: "UpdateHoster",
					Use:       "update-hoster",
					Short:     "Change a hoster's capacity, endpoint, region or price (flags left out stay unchanged)",
				},
				{
					RpcMethod:      "AddStake",
					Use:            "add-stake [amount]",
					Short:          "Add to the signer's hoster stake",
					PositionalArgs: []*autocliv1.PositionalArgDescriptor{{ProtoField: "amount"}},
				},
				{RpcMethod: "Leave", Use: "leave", Short: "Start unbonding (refused while the hoster holds assignments)"},
				{RpcMethod: "WithdrawStake", Use: "withdraw-stake", Short: "Take back the stake after the unbonding period"},
				{RpcMethod: "PlaceOrder", Skip: true},
				{RpcMethod: "ExtendOrder", Skip: true},
				{
					RpcMethod:      "CancelOrder",
					Use:            "cancel-order [order-id]",
					Short:          "Cancel an order: hosters get what accrued, the rest of the escrow comes back",
					PositionalArgs: []*autocliv1.PositionalArgDescriptor{{ProtoField: "order_id"}},
				},
				{
					RpcMethod: "Commit",
					Use:       "commit [order-id] [core-index] [length]",
					Short:     "Commit, as an assigned hoster, that you hold a core of an order at its current length (or an earlier signed length the order still knows)",
					PositionalArgs: []*autocliv1.PositionalArgDescriptor{
						{ProtoField: "order_id"}, {ProtoField: "core_index"}, {ProtoField: "length"},
					},
				},
				{
					RpcMethod: "ClaimPayment",
					Use:       "claim-payment",
					Short:     "Settle the pay accrued to the signer's slots (--order-id to limit to one order; without it at most 200 slots, continue with --start-order-id)",
				},
				{
					RpcMethod: "ReleaseSlot",
					Use:       "release-slot [order-id] [core-index]",
					Short:     "Give up, as a hoster, your slot of a core of an order: the slot moves to another hoster and you pay the owner release_fee_epochs epochs of its price from your stake",
					PositionalArgs: []*autocliv1.PositionalArgDescriptor{
						{ProtoField: "order_id"}, {ProtoField: "core_index"},
					},
				},
				{
					RpcMethod:      "UpdateParams",
					Use:            "update-params-proposal [params]",
					Short:          "Submit a governance proposal to replace the storage params (all fields)",
					PositionalArgs: []*autocliv1.PositionalArgDescriptor{{ProtoField: "params"}},
					GovProposal:    true,
				},
			},
		},
	}
}
