package saasbridge.conformance;

import com.amazonaws.athena.connector.lambda.data.BlockAllocatorImpl;
import com.amazonaws.athena.connector.lambda.domain.TableName;
import com.amazonaws.athena.connector.lambda.domain.predicate.Constraints;
import com.amazonaws.athena.connector.lambda.domain.predicate.OrderByField;
import com.amazonaws.athena.connector.lambda.domain.predicate.ValueSet;
import com.amazonaws.athena.connector.lambda.metadata.GetDataSourceCapabilitiesRequest;
import com.amazonaws.athena.connector.lambda.metadata.GetDataSourceCapabilitiesResponse;
import com.amazonaws.athena.connector.lambda.metadata.GetSplitsRequest;
import com.amazonaws.athena.connector.lambda.metadata.GetSplitsResponse;
import com.amazonaws.athena.connector.lambda.metadata.GetTableLayoutRequest;
import com.amazonaws.athena.connector.lambda.metadata.GetTableLayoutResponse;
import com.amazonaws.athena.connector.lambda.metadata.GetTableRequest;
import com.amazonaws.athena.connector.lambda.metadata.GetTableResponse;
import com.amazonaws.athena.connector.lambda.metadata.ListSchemasRequest;
import com.amazonaws.athena.connector.lambda.metadata.ListSchemasResponse;
import com.amazonaws.athena.connector.lambda.metadata.ListTablesRequest;
import com.amazonaws.athena.connector.lambda.metadata.ListTablesResponse;
import com.amazonaws.athena.connector.lambda.request.PingRequest;
import com.amazonaws.athena.connector.lambda.request.PingResponse;
import com.amazonaws.athena.connector.lambda.security.EncryptionKey;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.apache.arrow.vector.types.pojo.Field;
import org.apache.arrow.vector.types.pojo.Schema;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import software.amazon.awssdk.services.s3.S3Client;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The Athena Query Federation SDK plays the engine against the connector behind `saasbridge lambda serve`. */
class AthenaConformanceTest
{
    /** Serde versions the SDK writes and the connector accepts (v1 is the deprecated bean format). */
    static final int[] VERSIONS = {2, 3, 4, 5, 6};
    static final long MAX_BLOCK = 16_000_000L;
    static final long MAX_INLINE = 3_465_000L;

    static Env env;
    static BlockAllocatorImpl allocator;
    static S3Client s3;
    static Expected expected;
    static JsonNode catalogTypes;
    static AthenaDriver driver;
    static String schemaName;

    @BeforeAll
    static void setUp()
    {
        env = Env.load();
        allocator = new BlockAllocatorImpl();
        s3 = Aws.s3(env.s3Endpoint());
        expected = new Expected(env.path("expectedDir"));
        try {
            catalogTypes = AthenaWire.PLAIN.readTree(env.path("catalogTypes").toFile());
        }
        catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        driver = new AthenaDriver(allocator, env.lambda("localKey"), s3);
        ListSchemasResponse schemas = driver.call(new ListSchemasRequest(AthenaDriver.IDENTITY, AthenaDriver.queryId(),
                AthenaDriver.CATALOG), 6);
        assertEquals(1, schemas.getSchemas().size(), "one schema: the catalog");
        schemaName = schemas.getSchemas().iterator().next();
    }

    @AfterAll
    static void tearDown()
    {
        s3.close();
    }

    static TableName table(String name)
    {
        return new TableName(schemaName, name);
    }

    @ParameterizedTest(name = "serde v{0}")
    @ValueSource(ints = {2, 3, 4, 5, 6})
    void walksEveryTableAndReadsExactlyTheReferenceRows(int version)
    {
        for (boolean oldIdentity : new boolean[] {true, false}) {
            PingResponse ping = driver.call(new PingRequest(AthenaDriver.IDENTITY, AthenaDriver.CATALOG, "q-ping"),
                    version, oldIdentity);
            assertEquals(6, ping.getSerDeVersion(), "the connector announces serde v6");
            assertEquals(24, ping.getCapabilities());
            assertEquals(AthenaDriver.CATALOG, ping.getCatalogName());
            assertEquals("q-ping", ping.getQueryId());
        }
        ListSchemasResponse schemas = driver.call(new ListSchemasRequest(AthenaDriver.IDENTITY, "q", "saas"), version);
        assertEquals(List.of(schemaName), new ArrayList<>(schemas.getSchemas()));

        List<String> all = listTables(version, -1);
        assertEquals(expected.tables(), all, "ListTables (one page) names every catalog entity");
        assertEquals(all, listTables(version, 2), "ListTables pages of 2 give the same tables");

        if (version >= 4) {
            GetDataSourceCapabilitiesResponse caps = driver.call(new GetDataSourceCapabilitiesRequest(
                    AthenaDriver.IDENTITY, AthenaDriver.queryId(), AthenaDriver.CATALOG), version);
            assertTrue(caps.getCapabilities().containsKey("supports_filter_pushdown"), caps.getCapabilities().toString());
        }
        int continued = 0;
        for (String name : all) {
            Schema schema = driver.tableSchema(table(name), version);
            List<ObjectNode> truth = expected.rows(name);
            assertFalse(truth.isEmpty(), name + ": the reference data has rows in every table");
            assertEquals(truth.get(0).size(), schema.getFields().size(), name + ": one Arrow field per column");
            Map<String, String> types = new TreeMap<>();
            catalogTypes.get(name).fields().forEachRemaining(e -> types.put(e.getKey(), e.getValue().asText()));
            assertEquals(List.of(), CatalogTypes.mismatches(schema, types), name + ": Arrow types against the catalog");
            AthenaDriver.Scan scan = driver.scan(table(name), schema, schema, AthenaDriver.constraints(Map.of()), version,
                    MAX_BLOCK, MAX_INLINE);
            assertEquals(0, scan.spilledAnswers(), "small answers come inline");
            continued += scan.splits() > 2 ? 1 : 0;
            Expected.assertSameRows(truth, scan.rows(), name + " (serde v" + version + ")");
            Schema projection = new Schema(List.of(schema.getFields().get(schema.getFields().size() - 1),
                    schema.getFields().get(0)));
            AthenaDriver.Scan projected = driver.scan(table(name), schema, projection,
                    AthenaDriver.constraints(Map.of()), version, MAX_BLOCK, MAX_INLINE);
            Expected.assertSameRows(Expected.project(truth, projection, r -> true), projected.rows(),
                    name + " projected " + projection);
        }
        assertTrue(continued > 0, "some table has more splits than a GetSplits page (2): continuation tokens followed");
    }

    private List<String> listTables(int version, int pageSize)
    {
        List<String> out = new ArrayList<>();
        String token = null;
        do {
            ListTablesResponse r = driver.call(new ListTablesRequest(AthenaDriver.IDENTITY, AthenaDriver.queryId(),
                    AthenaDriver.CATALOG, schemaName, token, pageSize), version);
            if (pageSize > 0) {
                assertTrue(r.getTables().size() <= pageSize, "a page holds at most pageSize tables");
            }
            r.getTables().forEach(t -> out.add(t.getTableName()));
            token = r.getNextToken();
        } while (token != null && out.size() < 10_000);
        return out;
    }

    /** Every kind of value set on one column of each Arrow type the catalog produces, cycling the serde versions. */
    @TestFactory
    List<DynamicTest> valueSetsOfEveryKindOnEveryColumnType()
    {
        List<DynamicTest> tests = new ArrayList<>();
        Map<String, Integer> perType = new HashMap<>();
        int n = 0;
        for (String name : expected.tables()) {
            Schema schema = driver.tableSchema(table(name), 6);
            List<ObjectNode> truth = expected.rows(name);
            for (Field field : schema.getFields()) {
                String type = field.getType().toString();
                if (!ValueSetCases.filterable(field) || perType.merge(type, 1, Integer::sum) > 1) {
                    continue;
                }
                List<JsonNode> values = truth.stream().map(r -> r.get(field.getName())).collect(Collectors.toList());
                for (ValueSetCases.Case c : ValueSetCases.cases(allocator, field, values)) {
                    int version = VERSIONS[n++ % VERSIONS.length];
                    tests.add(DynamicTest.dynamicTest(name + "." + field.getName() + " " + c.label() + " v" + version,
                            () -> {
                                Map<String, ValueSet> summary = Map.of(field.getName(), c.valueSet());
                                AthenaDriver.Scan scan = driver.scan(table(name), schema, schema,
                                        AthenaDriver.constraints(summary), version, MAX_BLOCK, MAX_INLINE);
                                Expected.assertSameRows(
                                        Expected.project(truth, schema, r -> c.matches().test(r.get(field.getName()))),
                                        scan.rows(), name + " WHERE " + field.getName() + " " + c.label());
                            }));
                }
            }
        }
        return tests;
    }

    @ParameterizedTest(name = "serde v{0}")
    @ValueSource(ints = {4, 5, 6})
    void limitAndOrderBy(int version)
    {
        String name = "accounts";
        Schema schema = driver.tableSchema(table(name), version);
        List<ObjectNode> truth = expected.rows(name);
        Constraints limited = new Constraints(Map.of(), List.of(), List.of(), 5, Map.of(), null);
        List<ObjectNode> got = driver.scan(table(name), schema, schema, limited, version, MAX_BLOCK, MAX_INLINE).rows();
        assertEquals(5, got.size(), "LIMIT 5 gives 5 rows");
        Set<String> all = truth.stream().map(BlockRows::canonical).collect(Collectors.toSet());
        got.forEach(r -> assertTrue(all.contains(BlockRows.canonical(r)), "a limited row is a source row: " + r));

        Constraints top = new Constraints(Map.of(), List.of(),
                List.of(new OrderByField("id", OrderByField.Direction.DESC_NULLS_LAST)), 7, Map.of(), null);
        got = driver.scan(table(name), schema, schema, top, version, MAX_BLOCK, MAX_INLINE).rows();
        List<ObjectNode> want = truth.stream().sorted(Comparator.comparing((ObjectNode r) -> r.get("id").asText())
                .reversed()).limit(7).collect(Collectors.toList());
        got.sort(Comparator.comparing((ObjectNode r) -> r.get("id").asText()).reversed());
        Expected.assertSameRows(want, got, "ORDER BY id DESC LIMIT 7");
    }

    @ParameterizedTest(name = "serde v{0}")
    @ValueSource(ints = {5, 6})
    void queryPassthrough(int version)
    {
        Map<String, String> args = new LinkedHashMap<>();
        args.put("schemaFunctionName", "SYSTEM.QUERY");
        args.put("QUERY", "accounts?country=DE");
        TableName qpt = new TableName("system", "query");
        GetTableResponse t = driver.call(new GetTableRequest(AthenaDriver.IDENTITY, AthenaDriver.queryId(),
                AthenaDriver.CATALOG, qpt, args), version);
        Schema schema = t.getSchema();
        assertEquals(driver.tableSchema(table("accounts"), version), schema, "system.query has its entity's schema");
        Constraints constraints = new Constraints(Map.of(), List.of(), List.of(), Constraints.DEFAULT_NO_LIMIT, args, null);
        List<ObjectNode> got = driver.scan(qpt, schema, schema, constraints, version, MAX_BLOCK, MAX_INLINE).rows();
        List<ObjectNode> want = Expected.project(expected.rows("accounts"), schema,
                r -> "DE".equals(r.get("country").asText(null)));
        assertFalse(want.isEmpty());
        Expected.assertSameRows(want, got, "system.query(accounts?country=DE)");
    }

    /** Spilled answers in every table, read back from S3 with the SDK's spill reader and block crypto. */
    @ParameterizedTest(name = "spill {0}")
    @ValueSource(strings = {"localKey", "kms", "plain"})
    void spilledAnswersReadBackWithTheSdk(String mode)
    {
        AthenaDriver spilling = new AthenaDriver(allocator, env.lambda(mode), s3);
        int blocks = 0;
        for (String name : expected.tables()) {
            for (int version : name.equals("accounts") ? new int[] {2, 6} : new int[] {6}) {
                Schema schema = spilling.tableSchema(table(name), version);
                AthenaDriver.Scan scan = spilling.scan(table(name), schema, schema, AthenaDriver.constraints(Map.of()),
                        version, 8_000, 1);
                assertEquals(0, scan.inlineRows(), "maxInlineBlockSize 1 spills every split that has rows");
                blocks += scan.spilledBlocks();
                Expected.assertSameRows(expected.rows(name), scan.rows(), name + " spilled (" + mode + ", v" + version + ")");
            }
        }
        assertTrue(blocks > expected.tables().size(), "an 8 kB maxBlockSize spills several blocks");
        // the split keys themselves: AES-GCM keys and 12-byte nonces, none when spill encryption is off
        Schema schema = spilling.tableSchema(table("accounts"), 6);
        EncryptionKey key = firstSplitKey(spilling, schema);
        if (mode.equals("plain")) {
            assertEquals(null, key);
        }
        else {
            assertNotNull(key);
            assertEquals(12, key.getNonce().length);
            assertEquals(mode.equals("kms") ? 16 : 32, key.getKey().length);
        }
    }

    private static EncryptionKey firstSplitKey(AthenaDriver d, Schema schema)
    {
        GetTableLayoutResponse layout = d.call(new GetTableLayoutRequest(AthenaDriver.IDENTITY, "q-key",
                        AthenaDriver.CATALOG, table("accounts"), AthenaDriver.constraints(Map.of()), schema,
                        new HashSet<>()), 6);
        GetSplitsResponse splits = d.call(new GetSplitsRequest(AthenaDriver.IDENTITY, "q-key",
                        AthenaDriver.CATALOG, table("accounts"), layout.getPartitions(), List.of(),
                        AthenaDriver.constraints(Map.of()), null), 6);
        return splits.getSplits().iterator().next().getEncryptionKey();
    }

    /** A failure reaches Athena as a Lambda function error: a typed errorType and a one-line errorMessage. */
    @Test
    void errorAnswersAreTypedFunctionErrors()
    {
        AthenaDriver.FunctionError e = assertThrows(AthenaDriver.FunctionError.class, () -> driver.call(
                new GetTableRequest(AthenaDriver.IDENTITY, "q-err", AthenaDriver.CATALOG, table("no_such_table"),
                        Map.of()), 6));
        checkErrorDocument(e.document, "no_such_table");
        Aws.Answer malformed = driver.send("{\"@type\": \"GetTableRequest\", \"queryId\": 5}"
                .getBytes(StandardCharsets.UTF_8));
        assertNotNull(malformed.functionError(), "a malformed request is a function error");
        try {
            checkErrorDocument(AthenaWire.PLAIN.readTree(malformed.payload()), "GetTableRequest");
        }
        catch (java.io.IOException ex) {
            throw new AssertionError(ex);
        }
    }

    private static void checkErrorDocument(JsonNode doc, String mentions)
    {
        assertTrue(doc.isObject(), doc.toString());
        assertTrue(doc.path("errorType").isTextual(), "errorType: " + doc);
        assertTrue(doc.path("errorType").asText().matches("[A-Za-z_][A-Za-z0-9_.$]*"), "errorType is a class name: " + doc);
        String message = doc.path("errorMessage").asText("");
        assertFalse(message.isBlank(), "errorMessage: " + doc);
        assertFalse(message.contains("\n"), "errorMessage is one line: " + message);
        assertTrue(message.contains(mentions), "errorMessage names what is wrong (" + mentions + "): " + message);
        assertFalse(message.contains("demo-acme-key"), "no secret in an error");
    }
}
