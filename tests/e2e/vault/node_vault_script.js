// node-vault (npm) driven as an application would: one scenario per run, JSON of what it saw.
//
// Usage: node node_vault_script.js <scenario>   with, in the environment,
//   KV_ENDPOINT, KV_TOKEN, KV_CA (a CA file for TLS, or empty), KV_MOUNT, KV_PATH,
//   NODE_PATH (where node-vault is installed).
// Prints {"<step>": {"ok": <body>} | {"error": <message>, "status": <code>, "body": <body>}}.
// The Python test normalises and compares (test_diff_node.py).
'use strict';

const fs = require('fs');
const nodeVault = require('node-vault');

const mount = process.env.KV_MOUNT;
const path = process.env.KV_PATH;
const config = { endpoint: process.env.KV_ENDPOINT, token: process.env.KV_TOKEN };
if (process.env.KV_CA) {
    // node-vault 0.12 builds its https.Agent from requestOptions' TLS keys (ca, cert, key, ...).
    config.requestOptions = { ca: fs.readFileSync(process.env.KV_CA) };
}
const vault = nodeVault(config);
const data = (p) => `${mount}/data/${p}`;
const metadata = (p) => `${mount}/metadata/${p}`;

async function step(promise) {
    try {
        const body = await promise;
        return { ok: body === undefined ? null : body };
    } catch (err) {
        if (err.response) {
            return { error: err.message, status: err.response.statusCode, body: err.response.body };
        }
        return { error: `${err.name}: ${err.message}` };
    }
}

const scenarios = {
    async kv() {
        const seen = {};
        // A path never written (on stacksafe: an empty stack; a missing stack is another 404,
        // with a message, tested on its own): read and PATCH both answer 404.
        seen.read_before = await step(vault.read(data(path)));
        seen.update_before = await step(vault.update(data(path), { data: { A: '1' } }));
        seen.write_1 = await step(vault.write(data(path), { data: { A: '1', B: '2' } }));
        seen.write_2 = await step(vault.write(data(path), { data: { A: '2', B: '2' } }));
        seen.read = await step(vault.read(data(path)));
        seen.read_v1 = await step(vault.read(`${data(path)}?version=1`));
        seen.read_v7 = await step(vault.read(`${data(path)}?version=7`));
        seen.cas_0 = await step(vault.write(data(path), { data: { A: 'x' }, options: { cas: 0 } }));
        seen.cas_stale = await step(
            vault.write(data(path), { data: { A: 'x' }, options: { cas: 1 } }));
        seen.cas_ok = await step(
            vault.write(data(path), { data: { A: '3', B: '2' }, options: { cas: 2 } }));
        // update = PATCH with application/merge-patch+json: B removed, C added, A kept.
        seen.update = await step(vault.update(data(path), { data: { B: null, C: '4' } }));
        seen.update_cas_stale = await step(
            vault.update(data(path), { data: { D: '5' }, options: { cas: 1 } }));
        seen.read_after_update = await step(vault.read(data(path)));
        return seen;
    },

    async list() {
        const seen = {};
        for (const leaf of ['a', 'b', 'deep/c']) {
            seen[`write_${leaf}`] = await step(
                vault.write(data(`${path}/${leaf}`), { data: { K: leaf } }));
        }
        seen.list = await step(vault.list(metadata(path)));
        seen.list_slash = await step(vault.list(`${metadata(path)}/`));
        seen.list_deep = await step(vault.list(metadata(`${path}/deep`)));
        seen.list_missing = await step(vault.list(metadata(`${path}/none`)));
        return seen;
    },

    async metadata() {
        const seen = {};
        for (const value of ['1', '2', '3']) {
            seen[`write_${value}`] = await step(vault.write(data(path), { data: { A: value } }));
        }
        seen.write_metadata = await step(vault.write(metadata(path), {
            max_versions: 4, custom_metadata: { owner: 'team-a' },
        }));
        seen.patch_metadata = await step(vault.update(metadata(path), {
            custom_metadata: { tier: 'gold' },
        }));
        seen.read_metadata = await step(vault.read(metadata(path)));
        seen.read = await step(vault.read(data(path)));
        return seen;
    },

    async delete() {
        const seen = {};
        for (const value of ['1', '2', '3']) {
            seen[`write_${value}`] = await step(vault.write(data(path), { data: { A: value } }));
        }
        seen.delete_v1 = await step(vault.write(`${mount}/delete/${path}`, { versions: [1] }));
        seen.read_v1 = await step(vault.read(`${data(path)}?version=1`));
        seen.undelete_v1 = await step(vault.write(`${mount}/undelete/${path}`, { versions: [1] }));
        seen.read_v1_back = await step(vault.read(`${data(path)}?version=1`));
        seen.delete_latest = await step(vault.delete(data(path)));
        seen.read_deleted = await step(vault.read(data(path)));
        seen.undelete_latest = await step(
            vault.write(`${mount}/undelete/${path}`, { versions: [3] }));
        seen.read_back = await step(vault.read(data(path)));
        seen.destroy_v1 = await step(vault.write(`${mount}/destroy/${path}`, { versions: [1] }));
        seen.read_destroyed = await step(vault.read(`${data(path)}?version=1`));
        seen.destroy_nothing = await step(vault.write(`${mount}/destroy/${path}`, { versions: [] }));
        seen.read_metadata = await step(vault.read(metadata(path)));
        seen.delete_metadata = await step(vault.delete(metadata(path)));
        seen.read_gone = await step(vault.read(data(path)));
        seen.read_metadata_gone = await step(vault.read(metadata(path)));
        return seen;
    },

    async token() {
        const seen = {};
        seen.lookup_self = await step(vault.tokenLookupSelf());
        seen.health = await step(vault.health());
        const stranger = nodeVault({ ...config, token: 'not-a-token' });
        seen.stranger_lookup = await step(stranger.tokenLookupSelf());
        seen.stranger_read = await step(stranger.read(data(path)));
        return seen;
    },
};

async function main() {
    const scenario = scenarios[process.argv[2]];
    if (!scenario) throw new Error(`no scenario ${process.argv[2]}`);
    process.stdout.write(JSON.stringify(await scenario()));
}

main().catch((err) => {
    process.stderr.write(`${err.stack}\n`);
    process.exit(1);
});
