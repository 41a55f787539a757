package keeper

import (
	"context"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"cosmossdk.io/collections"

	sdk "github.com/cosmos/cosmos-sdk/types"
	"github.com/cosmos/cosmos-sdk/types/query"

	"github.com/datdot/datdot/x/attest/types"
)

type queryServer struct{ k Keeper }

var _ types.QueryServer = queryServer{}

// NewQueryServerImpl returns the x/attest Query service.
func NewQueryServerImpl(k Keeper) types.QueryServer { return queryServer{k: k} }

func (q queryServer) Params(ctx context.Context, _ *types.QueryParamsRequest) (*types.QueryParamsResponse, error) {
	p, err := q.k.Params.Get(ctx)
	if err != nil {
		return nil, err
	}
	return &types.QueryParamsResponse{Params: p}, nil
}

func (q queryServer) Challenge(ctx context.Context, req *types.QueryChallengeRequest) (*types.QueryChallengeResponse, error) {
	if req == nil {
		return nil, status.Error(codes.InvalidArgument, "empty request")
	}
	c, err := q.k.Challenges.Get(ctx, req.Id)
	if errorsIsNotFound(err) {
		return nil, status.Errorf(codes.NotFound, "challenge %d not found or closed", req.Id)
	}
	if err != nil {
		return nil, err
	}
	return &types.QueryChallengeResponse{Challenge: c}, nil
}

func (q queryServer) Challenges(ctx context.Context, req *types.QueryChallengesRequest) (*types.QueryChallengesResponse, error) {
	if req == nil {
		return nil, status.Error(codes.InvalidArgument, "empty request")
	}
	cs, page, err := query.CollectionPaginate(ctx, q.k.Challenges, req.Pagination,
		func(_ uint64, c types.Challenge) (types.Challenge, error) { return c, nil })
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	return &types.QueryChallengesResponse{Challenges: cs, Pagination: page}, nil
}

func (q queryServer) ChallengesByHoster(ctx context.Context, req *types.QueryChallengesByHosterRequest) (*types.QueryChallengesByHosterResponse, error) {
	if req == nil {
		return nil, status.Error(codes.InvalidArgument, "empty request")
	}
	addr, err := q.k.parseAddr(req.Hoster, "hoster")
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	cs, page, err := query.CollectionPaginate(ctx, q.k.ChallengesByHoster, req.Pagination,
		func(key collections.Pair[sdk.AccAddress, uint64], _ collections.NoValue) (types.Challenge, error) {
			return q.k.Challenges.Get(ctx, key.K2())
		}, query.WithCollectionPaginationPairPrefix[sdk.AccAddress, uint64](addr))
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	return &types.QueryChallengesByHosterResponse{Challenges: cs, Pagination: page}, nil
}

func (q queryServer) ChallengesByOrder(ctx context.Context, req *types.QueryChallengesByOrderRequest) (*types.QueryChallengesByOrderResponse, error) {
	if req == nil {
		return nil, status.Error(codes.InvalidArgument, "empty request")
	}
	cs, page, err := query.CollectionPaginate(ctx, q.k.ChallengesByOrder, req.Pagination,
		func(key collections.Pair[uint64, uint64], _ collections.NoValue) (types.Challenge, error) {
			return q.k.Challenges.Get(ctx, key.K2())
		}, query.WithCollectionPaginationPairPrefix[uint64, uint64](req.OrderId))
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	return &types.QueryChallengesByOrderResponse{Challenges: cs, Pagination: page}, nil
}

func (q queryServer) HosterRecord(ctx context.Context, req *types.QueryHosterRecordRequest) (*types.QueryHosterRecordResponse, error) {
	if req == nil {
		return nil, status.Error(codes.InvalidArgument, "empty request")
	}
	addr, err := q.k.parseAddr(req.Hoster, "hoster")
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	r, err := q.k.record(ctx, addr)
	if err != nil {
		return nil, err
	}
	return &types.QueryHosterRecordResponse{Record: r}, nil
}

func (q queryServer) Check(ctx context.Context, req *types.QueryCheckRequest) (*types.QueryCheckResponse, error) {
	if req == nil {
		return nil, status.Error(codes.InvalidArgument, "empty request")
	}
	c, err := q.k.Checks.Get(ctx, req.Id)
	if errorsIsNotFound(err) {
		return nil, status.Errorf(codes.NotFound, "check %d not found or closed", req.Id)
	}
	if err != nil {
		return nil, err
	}
	return &types.QueryCheckResponse{Check: c}, nil
}

func (q queryServer) ChecksByAttestor(ctx context.Context, req *types.QueryChecksByAttestorRequest) (*types.QueryChecksByAttestorResponse, error) {
	if req == nil {
		return nil, status.Error(codes.InvalidArgument, "empty request")
	}
	addr, err := q.k.parseAddr(req.Attestor, "attestor")
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	cs, page, err := query.CollectionPaginate(ctx, q.k.ChecksByAttestor, req.Pagination,
		func(key collections.Pair[sdk.AccAddress, uint64], _ collections.NoValue) (types.Check, error) {
			return q.k.Checks.Get(ctx, key.K2())
		}, query.WithCollectionPaginationPairPrefix[sdk.AccAddress, uint64](addr))
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	return &types.QueryChecksByAttestorResponse{Checks: cs, Pagination: page}, nil
}

func (q queryServer) Pool(ctx context.Context, _ *types.QueryPoolRequest) (*types.QueryPoolResponse, error) {
	p, err := q.k.pool(ctx)
	if err != nil {
		return nil, err
	}
	return &types.QueryPoolResponse{Pool: p}, nil
}
