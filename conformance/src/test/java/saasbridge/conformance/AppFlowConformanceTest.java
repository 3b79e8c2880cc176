package saasbridge.conformance;

import com.amazonaws.appflow.custom.connector.model.ConnectorRequest;
import com.amazonaws.appflow.custom.connector.model.ErrorDetails;
import com.amazonaws.appflow.custom.connector.model.connectorconfiguration.DescribeConnectorConfigurationResponse;
import com.amazonaws.appflow.custom.connector.model.credentials.ValidateCredentialsResponse;
import com.amazonaws.appflow.custom.connector.model.metadata.DescribeEntityResponse;
import com.amazonaws.appflow.custom.connector.model.metadata.FieldDefinition;
import com.amazonaws.appflow.custom.connector.model.metadata.ListEntitiesResponse;
import com.amazonaws.appflow.custom.connector.model.query.QueryDataResponse;
import com.amazonaws.appflow.custom.connector.model.retreive.RetrieveDataResponse;
import com.amazonaws.appflow.custom.connector.model.settings.ValidateConnectorRuntimeSettingsResponse;
import com.amazonaws.appflow.custom.connector.model.write.WriteDataResponse;
import com.amazonaws.appflow.custom.connector.model.write.WriteRecordResult;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.MapperFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;
import software.amazon.awssdk.services.lambda.LambdaClient;

import java.io.IOException;
import java.math.BigDecimal;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.OffsetDateTime;
import java.time.format.DateTimeParseException;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/** Every answer of the AppFlow connector, read into the AppFlow custom connector SDK's model and checked. */
class AppFlowConformanceTest
{
    static final String FUNCTION = "saasbridge-appflow-conformance";
    static final ObjectMapper PLAIN = new ObjectMapper();
    /** The SDK's object mapper with a fixed property order (its own order changes from one JVM run to the next). */
    static final ObjectMapper SDK_WRITER = AppFlowJudge.MAPPER.copy()
            .configure(MapperFeature.SORT_PROPERTIES_ALPHABETICALLY, true);
    static Env env;
    static LambdaClient lambda;

    @BeforeAll
    static void setUp()
    {
        env = Env.load();
        lambda = Aws.lambda(env.lambda("localKey"));
    }

    /** Every request fixture as recorded deserializes into the SDK's request model (which writes it back when asked). */
    @TestFactory
    List<DynamicTest> everyRequestFixtureDeserializes() throws IOException
    {
        try (Stream<Path> files = Files.list(env.path("appflowFixtures").resolve("requests"))) {
            return files.sorted().map(p -> DynamicTest.dynamicTest(p.getFileName().toString(), () -> {
                JsonNode raw = PLAIN.readTree(p.toFile());
                ConnectorRequest request = AppFlowJudge.readRequest(Files.readAllBytes(p));
                assertEquals(raw.get("type").asText(), request.getClass().getSimpleName().replace("Immutable", ""));
                env.saveWritten("appflow/requests/" + p.getFileName(), SDK_WRITER.writeValueAsBytes(request));
            })).collect(Collectors.toList());
        }
    }

    @TestFactory
    List<DynamicTest> everyAnswerReadsIntoTheSdkModel() throws IOException
    {
        List<DynamicTest> tests = new ArrayList<>();
        for (JsonNode c : PLAIN.readTree(env.path("appflowDir").resolve("cases.json").toFile())) {
            tests.add(DynamicTest.dynamicTest(c.get("name").asText(), () -> run(c)));
        }
        return tests;
    }

    private static Object send(JsonNode request) throws IOException
    {
        byte[] payload = PLAIN.writeValueAsBytes(request);
        AppFlowJudge.readRequest(payload);
        Aws.Answer answer = Aws.invoke(lambda, FUNCTION, payload);
        if (answer.functionError() != null) {
            fail("the connector raised instead of answering (AppFlow would see a bare Lambda error): "
                    + new String(answer.payload()));
        }
        return AppFlowJudge.readResponse(request.get("type").asText(), answer.payload());
    }

    private static void run(JsonNode c) throws IOException
    {
        if (c.has("fixture")) {
            AppFlowJudge.readRequest(PLAIN.writeValueAsBytes(c.get("fixture")));
        }
        ObjectNode request = (ObjectNode) c.get("request").deepCopy();
        if (c.has("tokenFrom")) {
            Object first = send(c.get("tokenFrom"));
            String token = first instanceof QueryDataResponse q ? q.nextToken() : ((ListEntitiesResponse) first).nextToken();
            assertNotNull(token, "the first page issues a nextToken");
            request.put("nextToken", token);
        }
        JsonNode expect = c.get("expect");
        List<Object> answers = new ArrayList<>();
        for (int page = 0; ; page++) {
            Object answer = send(request);
            answers.add(answer);
            String token = answer instanceof QueryDataResponse q ? q.nextToken()
                    : answer instanceof ListEntitiesResponse l ? l.nextToken() : null;
            if (!c.path("pageAll").asBoolean() || token == null) {
                break;
            }
            assertTrue(page < 10_000);
            request.put("nextToken", token);
        }
        Object last = answers.get(answers.size() - 1);
        assertEquals(expect.get("isSuccess").asBoolean(), success(last), "isSuccess; errorDetails: " + error(last));
        if (expect.has("errorCode")) {
            assertNotNull(error(last), "errorDetails on failure");
            assertEquals(expect.get("errorCode").asText(), error(last).errorCode().name());
        }
        if (!success(last)) {
            assertNotNull(error(last), "a failed answer has errorDetails");
            assertTrue(error(last).errorMessage() != null && !error(last).errorMessage().isBlank(), "an error message");
        }
        if (expect.has("records")) {
            List<JsonNode> got = new ArrayList<>();
            for (Object a : answers) {
                List<String> records = a instanceof QueryDataResponse q ? q.records() : ((RetrieveDataResponse) a).records();
                for (String r : records == null ? List.<String>of() : records) {
                    got.add(PLAIN.readTree(r));
                }
            }
            sameRecords(expect.get("records"), got);
        }
        else if (last instanceof QueryDataResponse q && q.records() != null) {
            for (String r : q.records()) {
                assertTrue(PLAIN.readTree(r).isObject(), "a record is a JSON object: " + r);
            }
        }
        if (expect.has("entities")) {
            TreeSet<String> got = new TreeSet<>();
            answers.forEach(a -> ((ListEntitiesResponse) a).entities().forEach(e -> got.add(e.entityIdentifier())));
            TreeSet<String> want = new TreeSet<>();
            expect.get("entities").forEach(e -> want.add(e.asText()));
            assertEquals(want, got);
        }
        if (expect.has("fieldTypes")) {
            Map<String, String> got = new TreeMap<>();
            for (FieldDefinition f : ((DescribeEntityResponse) last).entityDefinition().fields()) {
                got.put(f.fieldName(), f.dataType().name());
            }
            Map<String, String> want = new TreeMap<>();
            expect.get("fieldTypes").fields().forEachRemaining(e -> want.put(e.getKey(), e.getValue().asText()));
            assertEquals(want, got, "field names and AppFlow data types");
        }
        if (expect.has("writeResults")) {
            List<WriteRecordResult> results = ((WriteDataResponse) last).writeRecordResults();
            List<Boolean> got = results.stream().map(WriteRecordResult::isSuccess).collect(Collectors.toList());
            List<Boolean> want = new ArrayList<>();
            expect.get("writeResults").forEach(b -> want.add(b.asBoolean()));
            assertEquals(want, got, "one result per record");
            for (WriteRecordResult r : results) {
                if (r.isSuccess()) {
                    assertNotNull(r.recordId(), "a written record has its id");
                    assertNull(r.errorMessage());
                }
                else {
                    assertTrue(r.errorMessage() != null && !r.errorMessage().isBlank(), "a failed record says why");
                }
            }
        }
        if (expect.has("runtimeSettingKeys")) {
            List<String> keys = ((DescribeConnectorConfigurationResponse) last).connectorRuntimeSetting().stream()
                    .map(s -> s.key()).collect(Collectors.toList());
            expect.get("runtimeSettingKeys").forEach(k -> assertTrue(keys.contains(k.asText()), k + " in " + keys));
        }
    }

    private static boolean success(Object a)
    {
        if (a instanceof DescribeConnectorConfigurationResponse r) { return r.isSuccess(); }
        if (a instanceof ValidateCredentialsResponse r) { return r.isSuccess(); }
        if (a instanceof ValidateConnectorRuntimeSettingsResponse r) { return r.isSuccess(); }
        if (a instanceof ListEntitiesResponse r) { return r.isSuccess(); }
        if (a instanceof DescribeEntityResponse r) { return r.isSuccess(); }
        if (a instanceof QueryDataResponse r) { return r.isSuccess(); }
        if (a instanceof RetrieveDataResponse r) { return r.isSuccess(); }
        return ((WriteDataResponse) a).isSuccess();
    }

    private static ErrorDetails error(Object a)
    {
        if (a instanceof DescribeConnectorConfigurationResponse r) { return r.errorDetails(); }
        if (a instanceof ValidateCredentialsResponse r) { return r.errorDetails(); }
        if (a instanceof ValidateConnectorRuntimeSettingsResponse r) { return r.errorDetails(); }
        if (a instanceof ListEntitiesResponse r) { return r.errorDetails(); }
        if (a instanceof DescribeEntityResponse r) { return r.errorDetails(); }
        if (a instanceof QueryDataResponse r) { return r.errorDetails(); }
        if (a instanceof RetrieveDataResponse r) { return r.errorDetails(); }
        return ((WriteDataResponse) a).errorDetails();
    }

    /** The connector's records against the reference rows, in order, field by field, by meaning. */
    private static void sameRecords(JsonNode want, List<JsonNode> got)
    {
        assertEquals(want.size(), got.size(), "record count");
        for (int i = 0; i < want.size(); i++) {
            JsonNode w = want.get(i);
            JsonNode g = got.get(i);
            Map<String, JsonNode> fields = new LinkedHashMap<>();
            w.fields().forEachRemaining(e -> fields.put(e.getKey(), e.getValue()));
            for (Iterator<String> it = g.fieldNames(); it.hasNext(); ) {
                String name = it.next();
                assertTrue(fields.containsKey(name), "record " + i + " has a field not asked for: " + name);
            }
            fields.forEach((name, value) -> assertTrue(same(value, g.get(name)),
                    "record " + w.path("id").asText() + " field " + name + ": reference " + value + ", got " + g.get(name)));
        }
    }

    static boolean same(JsonNode want, JsonNode got)
    {
        boolean wantNull = want == null || want.isNull();
        boolean gotNull = got == null || got.isNull();
        if (wantNull || gotNull) {
            return wantNull && gotNull;
        }
        if (want.isNumber() && got.isNumber()) {
            return new BigDecimal(want.asText()).compareTo(new BigDecimal(got.asText())) == 0;
        }
        if (want.isTextual() && got.isTextual()) {
            if (want.asText().equals(got.asText())) {
                return true;
            }
            try {
                return OffsetDateTime.parse(want.asText()).toInstant().equals(OffsetDateTime.parse(got.asText()).toInstant());
            }
            catch (DateTimeParseException e) {
                return false;
            }
        }
        if (want.isObject() && got.isObject()) {
            TreeSet<String> names = new TreeSet<>();
            want.fieldNames().forEachRemaining(names::add);
            got.fieldNames().forEachRemaining(names::add);
            return names.stream().allMatch(n -> same(want.get(n), got.get(n)));
        }
        if (want.isArray() && got.isArray() && want.size() == got.size()) {
            for (int i = 0; i < want.size(); i++) {
                if (!same(want.get(i), got.get(i))) {
                    return false;
                }
            }
            return true;
        }
        return want.equals(got);
    }
}
