package keeper

import (
	"bytes"
	"context"
	"encoding/hex"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"cosmossdk.io/collections"
	"cosmossdk.io/math"

	sdk "github.com/cosmos/cosmos-sdk/types"
	"github.com/cosmos/cosmos-sdk/types/query"

	"github.com/datdot/datdot/x/storage/types"
)

type queryServer struct{ k Keeper }

var _ types.QueryServer = queryServer{}

// NewQueryServerImpl returns the x/storage Query service.
func NewQueryServerImpl(k Keeper) types.QueryServer { return queryServer{k: k} }

func (q queryServer) Params(ctx context.Context, _ *types.QueryParamsRequest) (*types.QueryParamsResponse, error) {
	p, err := q.k.Params.Get(ctx)
	if err != nil {
		return nil, err
	}
	return &types.QueryParamsResponse{Params: p}, nil
}

// view computes an assignment's accrued, unsettled pay at the current epoch.
func (q queryServer) view(ctx context.Context, p types.Params, orders map[uint64]types.Order, a types.Assignment) (types.AssignmentView, error) {
	o, ok := orders[a.OrderId]
	if !ok {
		var err error
		o, err = q.k.getOrder(ctx, a.OrderId)
		if err != nil {
			return types.AssignmentView{}, err
		}
		orders[a.OrderId] = o
	}
	amt, _, _, err := q.k.accrued(ctx, o, a, currentEpoch(ctx, p))
	if err != nil {
		return types.AssignmentView{}, err
	}
	return types.AssignmentView{Assignment: a, Accrued: amt}, nil
}

func (q queryServer) Hoster(ctx context.Context, req *types.QueryHosterRequest) (*types.QueryHosterResponse, error) {
	if req == nil {
		return nil, status.Error(codes.InvalidArgument, "empty request")
	}
	addr, err := q.k.parseAddr(req.Address, "address")
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	h, err := q.k.getHoster(ctx, addr)
	if err != nil {
		return nil, status.Error(codes.NotFound, err.Error())
	}
	p, err := q.k.Params.Get(ctx)
	if err != nil {
		return nil, err
	}
	// Accrued pay is summed over one page of the hoster's slots (default
	// 100), so the query is bounded however many slots it holds.
	total := math.ZeroInt()
	orders := make(map[uint64]types.Order)
	_, page, err := query.CollectionPaginate(ctx, q.k.AssignmentsByHoster, req.Pagination,
		func(key collections.Pair[sdk.AccAddress, collections.Pair[uint64, uint64]], _ collections.NoValue) (struct{}, error) {
			a, err := q.k.Assignments.Get(ctx, key.K2())
			if err != nil {
				return struct{}{}, err
			}
			v, err := q.view(ctx, p, orders, a)
			if err != nil {
				return struct{}{}, err
			}
			total = total.Add(v.Accrued)
			return struct{}{}, nil
		}, query.WithCollectionPaginationPairPrefix[sdk.AccAddress, collections.Pair[uint64, uint64]](addr))
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	return &types.QueryHosterResponse{Hoster: h, Free: freeBytes(h), Accrued: total, Pagination: page}, nil
}

func (q queryServer) Hosters(ctx context.Context, req *types.QueryHostersRequest) (*types.QueryHostersResponse, error) {
	if req == nil {
		return nil, status.Error(codes.InvalidArgument, "empty request")
	}
	hs, page, err := query.CollectionPaginate(ctx, q.k.Hosters, req.Pagination,
		func(_ sdk.AccAddress, h types.Hoster) (types.Hoster, error) { return h, nil })
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	return &types.QueryHostersResponse{Hosters: hs, Pagination: page}, nil
}

func (q queryServer) Order(ctx context.Context, req *types.QueryOrderRequest) (*types.QueryOrderResponse, error) {
	if req == nil {
		return nil, status.Error(codes.InvalidArgument, "empty request")
	}
	o, err := q.k.getOrder(ctx, req.Id)
	// NotFound either way; the message says "was deleted after the
	// retention period" for a pruned order.
	if err != nil {
		return nil, status.Error(codes.NotFound, err.Error())
	}
	p, err := q.k.Params.Get(ctx)
	if err != nil {
		return nil, err
	}
	as, err := q.k.orderAssignments(ctx, o.Id)
	if err != nil {
		return nil, err
	}
	orders := map[uint64]types.Order{o.Id: o}
	views := make([]types.AssignmentView, 0, len(as))
	total := math.ZeroInt()
	for _, a := range as {
		v, err := q.view(ctx, p, orders, a)
		if err != nil {
			return nil, err
		}
		total = total.Add(v.Accrued)
		views = append(views, v)
	}
	return &types.QueryOrderResponse{Order: o, Assignments: views, Accrued: total, CurrentEpoch: currentEpoch(ctx, p)}, nil
}

func (q queryServer) OrdersByOwner(ctx context.Context, req *types.QueryOrdersByOwnerRequest) (*types.QueryOrdersByOwnerResponse, error) {
	if req == nil {
		return nil, status.Error(codes.InvalidArgument, "empty request")
	}
	owner, err := q.k.parseAddr(req.Owner, "owner")
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	os, page, err := query.CollectionPaginate(ctx, q.k.OrdersByOwner, req.Pagination,
		func(key collections.Pair[sdk.AccAddress, uint64], _ collections.NoValue) (types.Order, error) {
			return q.k.Orders.Get(ctx, key.K2())
		}, query.WithCollectionPaginationPairPrefix[sdk.AccAddress, uint64](owner))
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	return &types.QueryOrdersByOwnerResponse{Orders: os, Pagination: page}, nil
}

func (q queryServer) AssignmentsByHoster(ctx context.Context, req *types.QueryAssignmentsByHosterRequest) (*types.QueryAssignmentsByHosterResponse, error) {
	if req == nil {
		return nil, status.Error(codes.InvalidArgument, "empty request")
	}
	addr, err := q.k.parseAddr(req.Hoster, "hoster")
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	p, err := q.k.Params.Get(ctx)
	if err != nil {
		return nil, err
	}
	orders := make(map[uint64]types.Order)
	vs, page, err := query.CollectionPaginate(ctx, q.k.AssignmentsByHoster, req.Pagination,
		func(key collections.Pair[sdk.AccAddress, collections.Pair[uint64, uint64]], _ collections.NoValue) (types.AssignmentView, error) {
			a, err := q.k.Assignments.Get(ctx, key.K2())
			if err != nil {
				return types.AssignmentView{}, err
			}
			return q.view(ctx, p, orders, a)
		}, query.WithCollectionPaginationPairPrefix[sdk.AccAddress, collections.Pair[uint64, uint64]](addr))
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	return &types.QueryAssignmentsByHosterResponse{Assignments: vs, Pagination: page}, nil
}

func (q queryServer) AssignmentsByOrder(ctx context.Context, req *types.QueryAssignmentsByOrderRequest) (*types.QueryAssignmentsByOrderResponse, error) {
	if req == nil {
		return nil, status.Error(codes.InvalidArgument, "empty request")
	}
	if _, err := q.k.getOrder(ctx, req.OrderId); err != nil {
		return nil, status.Error(codes.NotFound, err.Error())
	}
	p, err := q.k.Params.Get(ctx)
	if err != nil {
		return nil, err
	}
	orders := make(map[uint64]types.Order)
	vs, page, err := query.CollectionPaginate(ctx, q.k.Assignments, req.Pagination,
		func(_ collections.Pair[uint64, uint64], a types.Assignment) (types.AssignmentView, error) {
			return q.view(ctx, p, orders, a)
		}, query.WithCollectionPaginationPairPrefix[uint64, uint64](req.OrderId))
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	return &types.QueryAssignmentsByOrderResponse{Assignments: vs, Pagination: page}, nil
}

// OrdersByCore lists the orders naming the core (a page of them, by
// order id, through the OrdersByCore index), live or ended until pruned.
func (q queryServer) OrdersByCore(ctx context.Context, req *types.QueryOrdersByCoreRequest) (*types.QueryOrdersByCoreResponse, error) {
	if req == nil {
		return nil, status.Error(codes.InvalidArgument, "empty request")
	}
	key, err := hex.DecodeString(req.Key)
	if err != nil || len(key) != types.KeySize {
		return nil, status.Error(codes.InvalidArgument, "key must be 64 hex characters")
	}
	os, page, err := query.CollectionPaginate(ctx, q.k.OrdersByCore, req.Pagination,
		func(k collections.Pair[[]byte, uint64], _ collections.NoValue) (types.Order, error) {
			return q.k.Orders.Get(ctx, k.K2())
		}, query.WithCollectionPaginationPairPrefix[[]byte, uint64](key))
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	return &types.QueryOrdersByCoreResponse{Orders: os, Pagination: page}, nil
}

// CoreHolders lists, for each live order naming the core (a page of
// them), the hosters assigned to the core with their addresses, and the
// peers the orders name.
func (q queryServer) CoreHolders(ctx context.Context, req *types.QueryCoreHoldersRequest) (*types.QueryCoreHoldersResponse, error) {
	if req == nil {
		return nil, status.Error(codes.InvalidArgument, "empty request")
	}
	key, err := hex.DecodeString(req.Key)
	if err != nil || len(key) != types.KeySize {
		return nil, status.Error(codes.InvalidArgument, "key must be 64 hex characters")
	}
	type found struct {
		holders []types.CoreHolder
		peers   []string
	}
	hosters := map[string]types.Hoster{}
	pages, page, err := query.CollectionPaginate(ctx, q.k.OrdersByCore, req.Pagination,
		func(k collections.Pair[[]byte, uint64], _ collections.NoValue) (found, error) {
			var f found
			o, err := q.k.Orders.Get(ctx, k.K2())
			if err != nil || o.IsEnded() {
				return f, err
			}
			f.peers = o.Peers
			ci := -1 // an order names a key once (CheckDistinctKeys)
			for i, c := range o.Cores {
				if bytes.Equal(c.Key, key) {
					ci = i
					break
				}
			}
			if ci < 0 {
				return f, nil
			}
			// Only the core's slots: keys (order id, core<<32 | replica).
			rng := new(collections.Range[collections.Pair[uint64, uint64]]).
				StartInclusive(collections.Join(o.Id, types.SlotKey(uint32(ci), 0))).
				EndInclusive(collections.Join(o.Id, types.SlotKey(uint32(ci), ^uint32(0))))
			iter, err := q.k.Assignments.Iterate(ctx, rng)
			if err != nil {
				return f, err
			}
			as, err := iter.Values()
			if err != nil {
				return f, err
			}
			for _, a := range as {
				h, ok := hosters[a.Hoster]
				if !ok {
					addr, err := q.k.parseAddr(a.Hoster, "hoster")
					if err != nil {
						return f, err
					}
					if h, err = q.k.Hosters.Get(ctx, addr); err != nil {
						return f, err
					}
					hosters[a.Hoster] = h
				}
				f.holders = append(f.holders, types.CoreHolder{
					OrderId: o.Id, CoreIndex: a.CoreIndex, Hoster: a.Hoster, CommittedLength: a.CommittedLength,
					Length: o.Cores[a.CoreIndex].Length, ReplicationAddress: h.ReplicationAddress, Endpoint: h.Endpoint,
				})
			}
			return f, nil
		}, query.WithCollectionPaginationPairPrefix[[]byte, uint64](key))
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	res := &types.QueryCoreHoldersResponse{Holders: []types.CoreHolder{}, Pagination: page}
	seen := map[string]bool{}
	for _, f := range pages {
		res.Holders = append(res.Holders, f.holders...)
		for _, p := range f.peers {
			if !seen[p] {
				seen[p] = true
				res.Peers = append(res.Peers, p)
			}
		}
	}
	return res, nil
}
