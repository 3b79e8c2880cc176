package saasbridge.conformance;

import com.amazonaws.appflow.custom.connector.model.ConnectorRequest;
import com.amazonaws.appflow.custom.connector.model.connectorconfiguration.DescribeConnectorConfigurationResponse;
import com.amazonaws.appflow.custom.connector.model.credentials.ValidateCredentialsResponse;
import com.amazonaws.appflow.custom.connector.model.metadata.DescribeEntityResponse;
import com.amazonaws.appflow.custom.connector.model.metadata.ListEntitiesResponse;
import com.amazonaws.appflow.custom.connector.model.query.QueryDataResponse;
import com.amazonaws.appflow.custom.connector.model.retreive.RetrieveDataResponse;
import com.amazonaws.appflow.custom.connector.model.settings.ValidateConnectorRuntimeSettingsResponse;
import com.amazonaws.appflow.custom.connector.model.write.WriteDataResponse;
import com.amazonaws.appflow.custom.connector.util.CustomObjectMapper;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;

/**
 * The AppFlow custom connector SDK's model as the judge: requests and answers are read into its model classes
 * with its own object mapper (which fails on a missing required value, a wrong JSON type or an unknown enum
 * constant), and no answer may carry a field the model does not have (the mapper itself would drop it).
 */
public final class AppFlowJudge
{
    public static final ObjectMapper MAPPER = CustomObjectMapper.getObjectMapper();
    private static final ObjectMapper PLAIN = new ObjectMapper();

    /** Each request type's answer class in the SDK's model. */
    public static final Map<String, Class<?>> RESPONSES = Map.of(
            "DescribeConnectorConfigurationRequest", DescribeConnectorConfigurationResponse.class,
            "ValidateCredentialsRequest", ValidateCredentialsResponse.class,
            "ValidateConnectorRuntimeSettingsRequest", ValidateConnectorRuntimeSettingsResponse.class,
            "ListEntitiesRequest", ListEntitiesResponse.class,
            "DescribeEntityRequest", DescribeEntityResponse.class,
            "QueryDataRequest", QueryDataResponse.class,
            "RetrieveDataRequest", RetrieveDataResponse.class,
            "WriteDataRequest", WriteDataResponse.class);

    private AppFlowJudge() {}

    public static ConnectorRequest readRequest(byte[] json) throws IOException
    {
        return MAPPER.readValue(json, ConnectorRequest.class);
    }

    /** The answer to a request of `requestType`, as the SDK's model reads it. */
    public static Object readResponse(String requestType, byte[] json) throws IOException
    {
        Class<?> type = RESPONSES.get(requestType);
        if (type == null) {
            throw new AthenaWire.Mismatch("no answer class for request type " + requestType);
        }
        Object model = MAPPER.readValue(json, type);
        List<String> unknown = new ArrayList<>();
        unknownFields(PLAIN.readTree(json), PLAIN.readTree(MAPPER.writeValueAsBytes(model)), "$", unknown);
        if (!unknown.isEmpty()) {
            throw new AthenaWire.Mismatch(type.getSimpleName() + " has fields the SDK model does not know: " + unknown);
        }
        return model;
    }

    /** Non-null fields of `sent` that the model, written back, does not have. */
    private static void unknownFields(JsonNode sent, JsonNode model, String path, List<String> out)
    {
        if (sent.isObject()) {
            for (Iterator<Map.Entry<String, JsonNode>> it = sent.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                JsonNode m = model == null ? null : model.get(e.getKey());
                if (e.getValue().isNull()) {
                    continue;
                }
                if (m == null || m.isNull()) {
                    out.add(path + "." + e.getKey());
                    continue;
                }
                unknownFields(e.getValue(), m, path + "." + e.getKey(), out);
            }
        }
        else if (sent.isArray() && model != null && model.isArray()) {
            for (int i = 0; i < sent.size() && i < model.size(); i++) {
                unknownFields(sent.get(i), model.get(i), path + "[" + i + "]", out);
            }
        }
    }
}
