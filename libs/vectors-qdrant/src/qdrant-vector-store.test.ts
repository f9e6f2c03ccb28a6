import { randomUUID } from "node:crypto";
import { describeVectorStoreContract } from "@mlzero/vectors/contract";
import { QdrantClient } from "@qdrant/js-client-rest";
import { afterAll, describe } from "vitest";
import { createQdrantVectorStore } from "./qdrant-vector-store.js";

// The contract against a real Qdrant, e.g. QDRANT_URL=http://127.0.0.1:6333 (QDRANT_API_KEY when it needs one).
// Without a server the suite is skipped, by name; the wire format is tested against a fake in qdrant-wire-format.test.ts.
const url = process.env.QDRANT_URL;
const apiKey = process.env.QDRANT_API_KEY;

describe.skipIf(!url)("Qdrant vector store on the server at QDRANT_URL (skipped without one)", () => {
  // Every collection of this run starts with the prefix, so cleaning up cannot touch anyone else's.
  const collectionPrefix = `mlzero_test_${randomUUID().slice(0, 8)}`;

  afterAll(async () => {
    // The suite drops each collection after its test; this catches what a failed test left behind.
    const client = new QdrantClient({ url: url!, apiKey, checkCompatibility: false });
    const { collections } = await client.getCollections();
    for (const { name } of collections) if (name.startsWith(collectionPrefix)) await client.deleteCollection(name);
  });

  describeVectorStoreContract("Qdrant", () => createQdrantVectorStore({ url: url!, apiKey }), { collectionPrefix });
});
