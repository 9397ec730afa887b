using First.Tests;

namespace First.Gguf.Tests;

/// <summary><c>first train-routers</c> and <c>first eval</c> end to end on stories260K, and how they refuse bad input.</summary>
[Collection(nameof(ConsoleCollection))]
public sealed class CliRoutersTests
{
    private static readonly string Model = TestPaths.Model("stories260K.gguf");

    [Fact]
    public void Trained_routers_run_and_evaluate()
    {
        var dir = Directory.CreateTempSubdirectory("first-routers-").FullName;
        try
        {
            var routers = Path.Combine(dir, "s.routers.gguf");
            var train = ConsoleCapture.Run("train-routers", "-m", Model, "--self-generate", "6", "-o", routers, "--steps", "4", "--batch", "2",
                "--prompt-length", "16", "--continuation-length", "16", "--router-hidden", "8", "-t", "2", "--checkpoint-every", "2");
            Assert.True(train.Exit == 0, train.Err);
            Assert.Contains("step 4/4", train.Err, StringComparison.Ordinal);
            Assert.True(File.Exists(routers));
            Assert.False(File.Exists(routers + ".ckpt"), "the checkpoint of a finished run is removed");
            Assert.False(File.Exists(routers + ".tmp"));

            var run = ConsoleCapture.Run("run", "-m", Model, "--routers", routers, "-p", "Once upon a time", "-n", "8", "--temp", "0", "-t", "2", "--json");
            Assert.True(run.Exit == 0, run.Err);

            var prefix = Path.Combine(dir, "eval");
            var eval = ConsoleCapture.Run("eval", "-m", Model, "--routers", routers, "--self-generate", "3", "--prompt-length", "16",
                "--continuation-length", "16", "--skip-counts", "1,2", "-t", "2", "-o", prefix);
            Assert.True(eval.Exit == 0, eval.Err);
            var table = File.ReadAllText(prefix + ".md");
            foreach (var method in new[] { "| dense |", "| FiRST | 1 |", "| static BI | 2 |", "| balanced middle | 1 |", "| random | 2 |", "| FiRST (tau) |" })
            {
                Assert.Contains(method, table, StringComparison.Ordinal);
            }

            Assert.Contains("| dense |  | 0.00 |", table, StringComparison.Ordinal);
            var png = File.ReadAllBytes(prefix + ".png");
            Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, png[..4]);
            Assert.True(png.Length > 2000, "the plot is nearly empty");

            // The oracle takes each prompt's best set, so no method at its skip count has a lower KL.
            var rows = table.Split('\n').Where(l => l.StartsWith("| ", StringComparison.Ordinal)).Select(l => l.Split('|', StringSplitOptions.TrimEntries)).ToList();
            foreach (var k in new[] { "1", "2" })
            {
                var atK = rows.Where(r => r.Length > 5 && r[2] == k).ToDictionary(r => r[1], r => double.Parse(r[5], System.Globalization.CultureInfo.InvariantCulture));
                Assert.True(atK.ContainsKey("oracle (ceiling)"), $"no oracle row at k = {k}");
                Assert.All(atK, p => Assert.True(atK["oracle (ceiling)"] <= p.Value + 1e-4, $"k = {k}: oracle KL {atK["oracle (ceiling)"]} above {p.Key}'s {p.Value}"));
            }

            // Held-out pairs from JSONL, as train-routers reads them: one example per line.
            var pairs = Path.Combine(dir, "pairs.jsonl");
            File.WriteAllLines(pairs, [
                "{\"prompt\": \"Once upon a time, there was a little girl.\", \"completion\": \" She liked to play in the park with her dog.\"}",
                "{\"prompt\": \"TOM HAD A BIG RED BALL.\", \"completion\": \" HE LIKED TO PLAY WITH IT EVERY DAY.\"}",
                "{\"prompt\": \"One day, Lily saw a bird.\", \"completion\": \" The bird was sad because it could not fly.\"}",
            ]);
            var evalJsonl = ConsoleCapture.Run("eval", "-m", Model, "--routers", routers, "--jsonl", pairs, "--prompt-length", "16",
                "--continuation-length", "8", "--skip-counts", "1", "-t", "2", "-o", prefix);
            Assert.True(evalJsonl.Exit == 0, evalJsonl.Err);
            Assert.Contains("3 held-out examples from " + pairs, File.ReadAllText(prefix + ".md"), StringComparison.Ordinal);

            // Routers trained for a skip budget (forward passes only) load and run the same way.
            var budget = Path.Combine(dir, "b.routers.gguf");
            var trainBudget = ConsoleCapture.Run("train-routers", "-m", Model, "--self-generate", "4", "-o", budget, "--steps", "3", "--batch", "2",
                "--prompt-length", "16", "--continuation-length", "8", "--router-hidden", "8", "-t", "2", "--skip-budget", "2");
            Assert.True(trainBudget.Exit == 0, trainBudget.Err);
            Assert.Contains("skip budget 2", trainBudget.Err, StringComparison.Ordinal);
            var runBudget = ConsoleCapture.Run("run", "-m", Model, "--routers", budget, "--max-skip", "2", "--min-skip", "2", "-p", "Once upon a time", "-n", "4", "-t", "2");
            Assert.True(runBudget.Exit == 0, runBudget.Err);

            // The LoRA stage: adapters for those routers, applied when they skip, and a row of their own in the evaluation.
            var lora = Path.Combine(dir, "l.routers.gguf");
            var trainLora = ConsoleCapture.Run("train-routers", "-m", Model, "--routers", budget, "--self-generate", "4", "-o", lora, "--steps", "3", "--batch", "2",
                "--prompt-length", "16", "--continuation-length", "8", "-t", "2", "--skip-budget", "2", "--lora-rank", "4");
            Assert.True(trainLora.Exit == 0, trainLora.Err);
            Assert.Contains("LoRA adapters of rank 4", trainLora.Err, StringComparison.Ordinal);
            var runLora = ConsoleCapture.Run("run", "-m", Model, "--routers", lora, "--max-skip", "2", "--min-skip", "2", "-p", "Once upon a time", "-n", "4", "-t", "2");
            Assert.True(runLora.Exit == 0, runLora.Err);
            Assert.Contains("LoRA adapters of rank 4 applied", runLora.Err, StringComparison.Ordinal);
            var evalLora = ConsoleCapture.Run("eval", "-m", Model, "--routers", lora, "--self-generate", "2", "--prompt-length", "16",
                "--continuation-length", "8", "--skip-counts", "2", "-t", "2", "-o", prefix);
            Assert.True(evalLora.Exit == 0, evalLora.Err);
            Assert.Contains("| FiRST + LoRA | 2 |", File.ReadAllText(prefix + ".md"), StringComparison.Ordinal);

            // Adapters for a fixed list (a static method with the same second stage): its routers always choose the list.
            var fixedList = Path.Combine(dir, "f.routers.gguf");
            var trainFixed = ConsoleCapture.Run("train-routers", "-m", Model, "--skip-layers", "1,3", "--self-generate", "4", "-o", fixedList, "--steps", "2",
                "--batch", "2", "--prompt-length", "16", "--continuation-length", "8", "-t", "2", "--lora-rank", "2");
            Assert.True(trainFixed.Exit == 0, trainFixed.Err);
            var runFixed = ConsoleCapture.Run("run", "-m", Model, "--routers", fixedList, "-p", "Once upon a time", "-n", "4", "-t", "2");
            Assert.True(runFixed.Exit == 0, runFixed.Err);
            Assert.Contains("skipped layers: 1,3 (2 of 5), LoRA adapters of rank 2 applied", runFixed.Err, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void Bad_input_is_one_line_and_writes_nothing()
    {
        var dir = Directory.CreateTempSubdirectory("first-routers-bad-").FullName;
        try
        {
            var tiny = Path.Combine(dir, "tiny.txt");
            File.WriteAllText(tiny, "Hi.");
            var output = Path.Combine(dir, "out.routers.gguf");
            Fails(["train-routers", "-m", Model, "--text", tiny, "-o", output], "tiny.txt has");
            Fails(["train-routers", "-m", Model, "--self-generate", "2", "-o", output, "--tau", "1.5"], "tau must be in (0, 1)");
            Fails(["train-routers", "-m", Model, "--self-generate", "2", "-o", output, "--route-layers", "1,9"], "routed layer 9 does not exist");
            Fails(["train-routers", "-m", Model, "-o", output], "exactly one of");
            Fails(["train-routers", "-m", Model, "--self-generate", "2", "-o", output, "--loss", "mse"], "--loss must be kl or ce");
            Assert.Equal([tiny], Directory.GetFiles(dir));

            // A router file for another model (one more tensor in its table); another quantization of the same model takes it.
            var routers = Path.Combine(dir, "s.routers.gguf");
            Assert.Equal(0, ConsoleCapture.Run("train-routers", "-m", Model, "--self-generate", "2", "-o", routers, "--steps", "1", "--batch", "1",
                "--prompt-length", "8", "--continuation-length", "8", "--router-hidden", "4").Exit);
            var other = Path.Combine(dir, "other.gguf");
            TestModels.WithExtraTensor(Model, other);
            Fails(["eval", "-m", other, "--routers", routers, "--self-generate", "2"], "was made for another model");
            var quantized = ConsoleCapture.Run("run", "-m", TestPaths.Model("stories260K-Q8_0.gguf"), "--routers", routers, "-p", "Once", "-n", "4", "--temp", "0");
            Assert.Equal(0, quantized.Exit);
            Assert.Contains("trained on another quantization of this model", quantized.Err, StringComparison.Ordinal);
            File.Delete(other);
            Fails(["eval", "-m", Model, "--routers", routers, "--self-generate", "2", "--skip-counts", "4"], "skip count 4 is outside 1..3");
            Fails(["eval", "-m", Model, "--routers", routers, "--self-generate", "2", "--jsonl", tiny], "exactly one of --text FILE, --jsonl FILE and --self-generate N");
            Fails(["eval", "-m", Model, "--routers", routers, "--jsonl", Path.Combine(dir, "missing.jsonl")], "missing.jsonl");
            Fails(["train-routers", "-m", Model, "--routers", routers, "--self-generate", "2", "-o", output, "--lora-rank", "0"], "--lora-rank must be at least 1");
            Fails(["train-routers", "-m", Model, "--routers", Path.Combine(dir, "missing.routers.gguf"), "--self-generate", "2", "-o", output], "missing.routers.gguf");
            Fails(["train-routers", "-m", Model, "--skip-layers", "0", "--self-generate", "2", "-o", output], "layer 0 is not a routed layer");
            Fails(["train-routers", "-m", Model, "--skip-layers", "2", "--routers", routers, "--self-generate", "2", "-o", output], "exclude each other");
            Assert.False(File.Exists(output));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }

        static void Fails(string[] args, string message)
        {
            var (exit, _, err) = ConsoleCapture.Run(args);
            Assert.Equal(1, exit);
            Assert.Contains(message, err, StringComparison.Ordinal);
            Assert.Single(err.Trim().Split('\n'));
        }
    }
}
