using System.IO.Compression;
using System.Numerics;
using System.Security.Cryptography;
using System.Text;
using PyodideEmbedded;

// A folder of pure-Python wheels and its manifest.sha256. You would ship these; the sample makes one.
var packages = Directory.CreateTempSubdirectory("wheels-").FullName;
WriteWheel(packages, "stats_helpers", "1.0", "def mean(xs):\n    return sum(xs) / len(xs)\n");

await using var sandbox = await PythonSandbox.CreateAsync(new SandboxOptions
{
    PackagesPath = packages,        // checked against its manifest; nothing is ever downloaded
    Packages = ["stats_helpers"],   // installed in the sandbox when it starts
});

var result = await sandbox.RunAsync("""
    import csv, stats_helpers
    with open('/data/sales.csv') as f:
        amounts = [float(row['amount']) for row in csv.DictReader(f)]
    with open('/out/report.txt', 'w') as f:
        f.write(f'{title}: mean {stats_helpers.mean(amounts):.2f}')
    len(amounts) * scale
    """,
    new RunInputs
    {
        Globals = new Dictionary<string, object?> { ["title"] = "Q3 sales", ["scale"] = BigInteger.Pow(10, 20) },
        Files = new Dictionary<string, ReadOnlyMemory<byte>> { ["/data/sales.csv"] = "amount\n10\n20\n45\n"u8.ToArray() },
        ReadFiles = ["/out/report.txt"],
    });

Console.WriteLine(result.Value);                                                  // 300000000000000000000
Console.WriteLine(Encoding.UTF8.GetString(result.Files["/out/report.txt"].Span)); // Q3 sales: mean 25.00

Directory.Delete(packages, recursive: true);

// A wheel is a zip: the module, plus NAME-VERSION.dist-info/{METADATA,WHEEL,RECORD}.
static void WriteWheel(string folder, string name, string version, string moduleSource)
{
    var fileName = $"{name}-{version}-py3-none-any.whl";
    using (var zip = ZipFile.Open(Path.Combine(folder, fileName), ZipArchiveMode.Create))
    {
        void Add(string path, string text)
        {
            using var writer = new StreamWriter(zip.CreateEntry(path).Open());
            writer.Write(text);
        }

        var info = $"{name}-{version}.dist-info";
        Add($"{name}.py", moduleSource);
        Add($"{info}/METADATA", $"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n");
        Add($"{info}/WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n");
        Add($"{info}/RECORD", "");
    }

    var sha256 = Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(Path.Combine(folder, fileName))));
    File.WriteAllText(Path.Combine(folder, "manifest.sha256"), $"{sha256}  {fileName}\n");
}
