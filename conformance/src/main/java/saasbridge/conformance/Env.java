package saasbridge.conformance;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** Where the servers started by conformance/launch.py listen, and where it wrote the ground truth. */
public record Env(JsonNode json)
{
    public static Env load()
    {
        String path = System.getProperty("conformance.env");
        if (path == null || path.isBlank() || path.startsWith("${")) {
            throw new IllegalStateException("conformance.env is not set: run `make conformance`, which starts the "
                    + "reference API, the moto server and `saasbridge lambda serve` this suite talks to");
        }
        try {
            return new Env(new ObjectMapper().readTree(Files.readAllBytes(Path.of(path))));
        }
        catch (IOException e) {
            throw new IllegalStateException("cannot read " + path + ": " + e.getMessage(), e);
        }
    }

    /** The `saasbridge lambda serve` endpoint whose connector spills with `mode` (localKey, kms, plain). */
    public String lambda(String mode)
    {
        return json.get("lambdaEndpoints").get(mode).asText();
    }

    public String s3Endpoint()
    {
        return json.get("s3Endpoint").asText();
    }

    /** Where the SDKs write the fixtures back (`launch.py --write-fixtures`); null when they only judge them. */
    public Path writtenFixtures()
    {
        JsonNode dir = json.get("writtenFixtures");
        return dir == null || dir.isNull() ? null : Path.of(dir.asText());
    }

    /** Save what an SDK wrote for the fixture at `relative` (under writtenFixtures()), when asked to. */
    public void saveWritten(String relative, byte[] json) throws IOException
    {
        Path dir = writtenFixtures();
        if (dir != null) {
            Path file = dir.resolve(relative);
            Files.createDirectories(file.getParent());
            Files.write(file, json);
        }
    }

    public Path path(String name)
    {
        return Path.of(json.get(name).asText());
    }
}
