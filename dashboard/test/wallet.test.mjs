// A stock CosmJS client (@cosmjs/stargate) against a running devnet: it
// takes the chain's settings from the devnet's chain-registry chain.json and
// assetlist.json, reads balances, sends tokens (and checks both balances
// moved by exactly the amount and fee), and decodes the storage module's
// typed events from the chain's transactions.
//
//   DASHBOARD_URL=http://127.0.0.1:9100 KEYS_DIR=<home>/chain/keys \
//   EXPECT_ORDER_OWNER=datdot1... node wallet.test.mjs
import { SigningStargateClient, StargateClient, GasPrice, assertIsDeliverTxSuccess } from '@cosmjs/stargate';
import { DirectSecp256k1HdWallet } from '@cosmjs/proto-signing';
import fs from 'node:fs';
import path from 'node:path';

const base = process.env.DASHBOARD_URL;
const keysDir = process.env.KEYS_DIR;
if (!base || !keysDir) { console.error('DASHBOARD_URL and KEYS_DIR must be set'); process.exit(2); }

let passed = 0, failed = 0;
async function check(name, fn) {
  try { await fn(); passed++; console.log('ok   ' + name); }
  catch (e) { failed++; console.log('FAIL ' + name + ': ' + (e && e.message ? e.message.split('\n')[0] : e)); }
}
function assert(cond, msg) { if (!cond) throw new Error(msg); }
const getJSON = async (u) => { const r = await fetch(u); if (!r.ok) throw new Error(u + ': HTTP ' + r.status); return r.json(); };

const chain = await getJSON(base + '/chain.json');
const assets = await getJSON(base + '/assetlist.json');
const keplr = await getJSON(base + '/keplr.json');
const asset = assets.assets[0];
const fee = chain.fees.fee_tokens[0];
const rpc = chain.apis.rpc[0].address;
const key = (name) => JSON.parse(fs.readFileSync(path.join(keysDir, name + '.json'), 'utf8'));

await check('chain.json, assetlist.json and keplr.json agree', async () => {
  assert(chain.bech32_prefix === 'datdot' && asset.base === 'udot' && fee.denom === asset.base, 'prefix/denom');
  assert(keplr.chainId === chain.chain_id && keplr.rpc === rpc && keplr.rest === chain.apis.rest[0].address, 'keplr endpoints');
  assert(keplr.bech32Config.bech32PrefixAccAddr === chain.bech32_prefix, 'keplr bech32');
  assert(keplr.currencies[0].coinMinimalDenom === asset.base && keplr.currencies[0].coinDecimals === 6, 'keplr currency');
  assert(keplr.feeCurrencies[0].gasPriceStep.average === fee.average_gas_price, 'keplr gas price');
});

const wallet = await DirectSecp256k1HdWallet.fromMnemonic(key('alice').mnemonic, { prefix: chain.bech32_prefix });
const [alice] = await wallet.getAccounts();
const bob = key('bob').address;
const client = await SigningStargateClient.connectWithSigner(rpc, wallet, {
  gasPrice: GasPrice.fromString(fee.average_gas_price + fee.denom),
});

await check('the node is the chain that chain.json names', async () => {
  assert(await client.getChainId() === chain.chain_id, 'chain id ' + await client.getChainId());
});

await check('the mnemonic gives the address the node keyring has', async () => {
  assert(alice.address === key('alice').address, alice.address + ' != ' + key('alice').address);
});

await check('reads balances and sends tokens; both balances move by exactly the amount (and the fee)', async () => {
  const a0 = BigInt((await client.getBalance(alice.address, fee.denom)).amount);
  const b0 = BigInt((await client.getBalance(bob, fee.denom)).amount);
  assert(a0 > 0n, 'alice has nothing');
  const amount = 123457n;
  const res = await client.sendTokens(alice.address, bob, [{ denom: fee.denom, amount: amount.toString() }], 'auto', 'datdot wallet test');
  assertIsDeliverTxSuccess(res);
  const tx = await client.getTx(res.transactionHash);
  assert(tx && tx.code === 0, 'tx not found by hash');
  const paid = res.events.filter((e) => e.type === 'tx').flatMap((e) => e.attributes).find((a) => a.key === 'fee');
  const feeAmount = paid ? BigInt(paid.value.replace(fee.denom, '')) : 0n;
  assert(feeAmount > 0n, 'no fee paid');
  const a1 = BigInt((await client.getBalance(alice.address, fee.denom)).amount);
  const b1 = BigInt((await client.getBalance(bob, fee.denom)).amount);
  assert(b1 - b0 === amount, `bob got ${b1 - b0}`);
  assert(a0 - a1 === amount + feeAmount, `alice paid ${a0 - a1}, want ${amount + feeAmount}`);
});

await check('a send beyond the balance is refused and moves nothing', async () => {
  const b0 = BigInt((await client.getBalance(bob, fee.denom)).amount);
  const a0 = BigInt((await client.getBalance(alice.address, fee.denom)).amount);
  let refused = false;
  try {
    const res = await client.sendTokens(alice.address, bob, [{ denom: fee.denom, amount: (a0 * 2n).toString() }], { amount: [{ denom: fee.denom, amount: '500' }], gas: '200000' });
    refused = res.code !== 0;
  } catch (e) { refused = /insufficient funds/.test(e.message); if (!refused) throw e; }
  assert(refused, 'accepted');
  assert(BigInt((await client.getBalance(bob, fee.denom)).amount) === b0, 'bob balance moved');
});

const owner = process.env.EXPECT_ORDER_OWNER;
if (owner) {
  await check('decodes x/storage typed events: hosters registered, order placed, assigned and committed', async () => {
    const ro = await StargateClient.connect(rpc);
    const decode = (e) => Object.fromEntries(e.attributes.filter((a) => a.key !== 'msg_index').map((a) => {
      try { return [a.key, JSON.parse(a.value)]; } catch { return [a.key, a.value]; }
    }));
    const find = async (action, type) => {
      const txs = await ro.searchTx(`message.action='/datdot.storage.v1.${action}'`);
      return txs.flatMap((t) => t.events.filter((e) => e.type === 'datdot.storage.v1.' + type).map(decode));
    };
    const placed = await find('MsgPlaceOrder', 'EventOrderPlaced');
    const mine = placed.filter((e) => e.owner === owner);
    assert(mine.length >= 1, 'no EventOrderPlaced of ' + owner);
    const ev = mine[0];
    assert(/^\d+$/.test(String(ev.order_id)) && BigInt(String(ev.deposit).replace(/\D+$/, '').replace(/[a-z]+$/, '') || 0) >= 0n, 'order_id/deposit ' + JSON.stringify(ev));
    assert(Number(ev.slots) >= 1, 'slots ' + ev.slots);
    const registered = await find('MsgRegisterHoster', 'EventHosterRegistered');
    assert(registered.length >= 1 && registered.every((e) => e.hoster.startsWith(chain.bech32_prefix + '1')), 'EventHosterRegistered ' + JSON.stringify(registered[0]));
    const committed = await find('MsgCommit', 'EventCommitted');
    assert(committed.some((e) => String(e.order_id) === String(ev.order_id)), 'no EventCommitted for order ' + ev.order_id);
    ro.disconnect();
  });
}

client.disconnect();
console.log(`wallet: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
