package saasbridge.conformance;

import com.amazonaws.athena.connector.lambda.data.BlockAllocatorImpl;
import com.amazonaws.athena.connector.lambda.request.FederationRequest;
import com.amazonaws.athena.connector.lambda.request.FederationResponse;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The recorded Athena fixtures (tests/fixtures/athena) against the SDK: each message is read with the serde of
 * its version and written back by the SDK; the fixture must be exactly what the SDK writes (Arrow payloads aside).
 */
class AthenaFixturesTest
{
    static BlockAllocatorImpl allocator;
    static AthenaWire wire;
    static Path fixtures;
    static Env env;

    @BeforeAll
    static void setUp()
    {
        allocator = new BlockAllocatorImpl("test-allocator-id");  // the id the SDK's own fixtures carry
        wire = new AthenaWire(allocator);
        env = Env.load();
        fixtures = env.path("athenaFixtures");
    }

    @AfterAll
    static void tearDown()
    {
        allocator.close();
    }

    /** What the SDK writes for the message it reads from a fixture, with the serde of `version`. */
    static JsonNode sdkWriting(JsonNode fixture, int version) throws IOException
    {
        byte[] bytes = AthenaWire.PLAIN.writeValueAsBytes(fixture);
        String type = fixture.get("@type").asText();
        byte[] again = type.endsWith("Request")
                ? wire.mapper(version).writeValueAsBytes(wire.readRequest(bytes, version))
                : wire.mapper(version).writeValueAsBytes(wire.mapper(version).readValue(bytes, FederationResponse.class));
        return AthenaWire.PLAIN.readTree(again);
    }

    /** The differences between a fixture and the SDK's own writing of what it read from it. */
    static List<String> differences(JsonNode fixture, int version) throws IOException
    {
        List<String> diffs = new ArrayList<>();
        AthenaWire.compare(fixture, sdkWriting(fixture, version), "$", diffs);
        return diffs;
    }

    @TestFactory
    List<DynamicTest> everyRecordedMessageIsWhatTheSdkWrites() throws IOException
    {
        List<DynamicTest> tests = new ArrayList<>();
        for (String dir : List.of("common", "v2", "v4", "v5", "v6")) {
            try (Stream<Path> files = Files.list(fixtures.resolve(dir))) {
                for (Path file : files.sorted().collect(Collectors.toList())) {
                    String name = file.getFileName().toString();
                    if (name.equals("LambdaFunctionException.json")) {
                        continue;  // the Lambda runtime's error document, not an SDK message
                    }
                    int[] versions = dir.equals("common") ? new int[] {2, 6} : new int[] {Integer.parseInt(dir.substring(1))};
                    for (int version : versions) {
                        tests.add(DynamicTest.dynamicTest(dir + "/" + name + " (serde v" + version + ")", () -> {
                            JsonNode fixture = AthenaWire.PLAIN.readTree(file.toFile());
                            if (version == versions[0] && !name.contains("ForwardsCompatible")) {
                                // the Jackson pretty printer the upstream SDK's own fixtures are written with
                                env.saveWritten("athena/" + dir + "/" + name, (AthenaWire.PLAIN.writerWithDefaultPrettyPrinter()
                                        .writeValueAsString(sdkWriting(fixture, version))).getBytes(StandardCharsets.UTF_8));
                            }
                            List<String> diffs = differences(fixture, version);
                            if (name.contains("ForwardsCompatible")) {
                                // the SDK must ignore the unknown trailing field, so it does not write it back
                                assertEquals(1, diffs.size(), diffs.toString());
                                ObjectNode trimmed = fixture.deepCopy();
                                Iterator<String> names = fixture.fieldNames();
                                String lastName = null;
                                while (names.hasNext()) {
                                    lastName = names.next();
                                }
                                trimmed.remove(lastName);
                                diffs = differences(trimmed, version);
                            }
                            assertEquals(List.of(), diffs, "the SDK writes " + dir + "/" + name + " differently");
                        }));
                    }
                }
            }
        }
        JsonNode synthesized = AthenaWire.PLAIN.readTree(fixtures.resolve("synthesized/responses_v4plus_examples.json")
                .toFile());
        for (Iterator<Map.Entry<String, JsonNode>> it = synthesized.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            if (e.getValue().isObject() && e.getValue().has("@type")) {
                tests.add(DynamicTest.dynamicTest("synthesized " + e.getKey() + " (serde v5)", () ->
                        assertEquals(List.of(), differences(e.getValue(), 5), "the SDK writes " + e.getKey() + " differently")));
            }
        }
        return tests;
    }
}
